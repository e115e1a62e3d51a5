"""Wire models shared by the frontend and the workers.

This package depends on pydantic only: nothing from framecast.frontend or framecast.components.
"""

from framecast.protocol.cards import WORKER_CARD_KEY, Support, WorkerCard
from framecast.protocol.errors import ErrorBody, ErrorResponse, RequestFieldError, validation_error_body
from framecast.protocol.images import ImageData, ImageEditRequest, ImageFormat, ImageGenerationRequest, ImageGenerationResponse
from framecast.protocol.routing import (
    GENERATE_ENDPOINT,
    MODEL_CARD_KEY,
    MODEL_CARD_PREFIX,
    add_discovery_arguments,
    discovery_environment,
    generate_endpoint_path,
    model_component,
)
from framecast.protocol.videos import (
    GenerationKnobs,
    JobStatus,
    VideoCreateRequest,
    VideoRemixJob,
    VideoRemixRequest,
    VideoData,
    VideoDeleted,
    VideoGenerationRequest,
    VideoGenerationResponse,
    VideoJob,
    VideoJobError,
    VideoJobList,
    VideoNvExt,
    VideoRequestBase,
    WebhookEventBody,
    WorkerVideoMessage,
    WorkerVideoRequest,
    parse_size,
)
from framecast.protocol.vocabulary import FINISHING_STAGES, ErrorCode, Stage
from framecast.protocol.webhooks import DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENTS, WebhookEvent, WebhookFields, WebhookTarget

__all__ = [
    "WORKER_CARD_KEY",
    "Support",
    "WorkerCard",
    "FINISHING_STAGES",
    "ErrorCode",
    "Stage",
    "ErrorBody",
    "ErrorResponse",
    "RequestFieldError",
    "validation_error_body",
    "ImageData",
    "ImageFormat",
    "ImageEditRequest",
    "ImageGenerationRequest",
    "ImageGenerationResponse",
    "GENERATE_ENDPOINT",
    "MODEL_CARD_KEY",
    "MODEL_CARD_PREFIX",
    "generate_endpoint_path",
    "model_component",
    "add_discovery_arguments",
    "discovery_environment",
    "GenerationKnobs",
    "JobStatus",
    "VideoCreateRequest",
    "VideoRemixJob",
    "VideoRemixRequest",
    "VideoData",
    "VideoDeleted",
    "VideoGenerationRequest",
    "VideoGenerationResponse",
    "VideoJob",
    "VideoJobError",
    "VideoJobList",
    "VideoNvExt",
    "VideoRequestBase",
    "WebhookEventBody",
    "DEFAULT_WEBHOOK_EVENTS",
    "WEBHOOK_EVENTS",
    "WebhookEvent",
    "WebhookFields",
    "WebhookTarget",
    "WorkerVideoMessage",
    "WorkerVideoRequest",
    "parse_size",
]
