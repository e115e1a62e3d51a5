"""Fetching a client's image URL without letting the client reach what it should not.

Only http and https. The frontend resolves the host itself, refuses loopback, private,
link-local (169.254.169.254 among them), multicast, unspecified and reserved addresses over
IPv4 and IPv6 (IPv4-mapped ones by the address they map to) unless an operator allow-list
names them, and connects to the address it checked, so a second DNS answer cannot swap it
(TLS still verifies the certificate against the host name). Redirects are followed by hand, a
few at the most, each hop checked again. The body is capped while it streams, and the whole
fetch has a deadline. Every refusal is a FetchRefused, raised before anything is sent to a
refused address. Webhooks post through the same guard (`post`), with no redirect followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to (the system resolver by default).
Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchRefused(Exception):
    """The URL was not fetched, or its answer not taken; the message says why. `transient`: the
    host did not resolve now (it may later); every other refusal stands."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class CheckedTarget:
    """Where a request goes once its URL passed the guard: the checked address, with the URL's
    host kept for the Host header and TLS."""

    url: str
    scheme: str
    address: Address
    target: str
    headers: dict[str, str]
    extensions: dict[str, str]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
        or address.is_unspecified or address.is_reserved or not address.is_global
    )  # fmt: skip


@dataclass(frozen=True)
class FetchPolicy:
    # Networks fetched from even though they are not public (an operator's own image server).
    allowed: tuple[Network, ...] = ()
    max_bytes: int = 20 * 2**20
    timeout_s: float = 10.0
    max_redirects: int = 3

    def listed(self, address: Address) -> bool:
        """The operator's allow-list names the address."""
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        candidates = [address] + ([mapped] if mapped is not None else [])
        return any(candidate in network for candidate in candidates for network in self.allowed)

    def admits(self, address: Address) -> bool:
        return self.listed(address) or _public(address)


@dataclass
class SafeFetcher:
    policy: FetchPolicy = field(default_factory=FetchPolicy)
    resolver: Resolver = system_resolver

    async def fetch(self, url: str) -> bytes:
        """The body at `url`, or FetchRefused."""
        try:
            return await asyncio.wait_for(self._follow(url), timeout=self.policy.timeout_s)
        except asyncio.TimeoutError:
            raise FetchRefused(f"fetching {url} took longer than {self.policy.timeout_s:g}s") from None

    async def _follow(self, url: str) -> bytes:
        for _ in range(self.policy.max_redirects + 1):
            response_or_next = await self._one_hop(url)
            if isinstance(response_or_next, bytes):
                return response_or_next
            url = response_or_next
        raise FetchRefused(f"more than {self.policy.max_redirects} redirects")

    async def _checked_address(self, host: str, port: int) -> Address:
        try:
            literal = ipaddress.ip_address(host)
            addresses = [literal]
        except ValueError:
            try:
                addresses = [ipaddress.ip_address(found.split("%")[0]) for found in await self.resolver(host, port)]
            except OSError as error:
                raise FetchRefused(f"{host} does not resolve ({error})", transient=True) from None
        if not addresses:
            raise FetchRefused(f"{host} does not resolve", transient=True)
        refused = [str(address) for address in addresses if not self.policy.admits(address)]
        if refused:
            # Every answer must pass: a resolver that returns one public and one private
            # address would otherwise choose for us.
            raise FetchRefused(f"{host} resolves to {', '.join(refused)}, an address this server does not fetch from")
        return addresses[0]

    async def check(self, url: str) -> CheckedTarget:
        """The URL's checked address and how to reach it, or FetchRefused."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused(f"only http and https URLs are fetched, not {parts.scheme or 'a URL without scheme'}")
        if not parts.hostname:
            raise FetchRefused("the URL has no host")
        if parts.username or parts.password:
            raise FetchRefused("URLs with credentials are not fetched")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchRefused("the URL's port is not a number") from None
        address = await self._checked_address(parts.hostname, port)
        # Connect to the checked address; the Host header and TLS name stay the URL's host.
        netloc = f"[{address}]" if address.version == 6 else str(address)
        target = parts._replace(netloc=f"{netloc}:{port}").geturl()
        host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return CheckedTarget(url, parts.scheme, address, target, {"host": host_header}, extensions)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST `body` to `url` through the guard, following no redirect, within the policy's
        timeout; the answer's status. Raises FetchRefused (nothing sent), or httpx.TransportError
        and asyncio.TimeoutError (sent, or tried: no answer)."""
        checked = await self.check(url)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST", checked.target, content=body, headers=headers | checked.headers, extensions=checked.extensions
            )
            response = await asyncio.wait_for(client.send(request), timeout=self.policy.timeout_s)
            return response.status_code

    async def _one_hop(self, url: str) -> bytes | str:
        """The body, or the URL a redirect points to."""
        checked = await self.check(url)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            request = client.build_request("GET", checked.target, headers=checked.headers, extensions=checked.extensions)
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as error:
                raise FetchRefused(f"fetching {url} failed: {error}") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchRefused(f"{url} redirects without a location")
                    return urljoin(url, location)
                if response.status_code != 200:
                    raise FetchRefused(f"{url} answered {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.policy.max_bytes:
                    raise FetchRefused(f"{url} is {declared} bytes; at most {self.policy.max_bytes} are fetched")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.policy.max_bytes:
                        raise FetchRefused(f"{url} is more than {self.policy.max_bytes} bytes; at most that is fetched")
                return bytes(body)
            except httpx.HTTPError as error:
                raise FetchRefused(f"fetching {url} failed: {error}") from None
            finally:
                await response.aclose()
