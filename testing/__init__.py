"""What the tests and the benchmarks share: real etcd, worker and frontend processes started
the way a user starts them, MP4 decoding, metric scraping, and the stage hold that paces
tests. Installed with framecast (framecast.testing); nothing in the service imports it."""
