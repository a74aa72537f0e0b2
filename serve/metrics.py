"""The server's Prometheus metrics, in a registry of its own (two apps in one process never mix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds from a chunk's arrival to its reply being handed to the connection.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServeMetrics:
    """streams open, stream-steps and chunks (rate() of them: steps/s), batch sizes, chunk
    latency, graph time per cycle, errors by code, refused connections by reason, predictions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.streams_open = Gauge("edgernn_streams_open", "Open WebSocket streams", ["model"], registry=r)
        self.steps = Counter("edgernn_steps", "Stream-steps computed", ["model"], registry=r)
        self.chunks = Counter("edgernn_chunks", "Chunks answered", ["model"], registry=r)
        self.batch_size = Histogram("edgernn_batch_streams", "Streams per micro-batch", ["model"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.cycle_seconds = Histogram("edgernn_batch_seconds", "Seconds per micro-batch in the worker thread",
                                       ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.latency = Histogram("edgernn_chunk_latency_seconds", "Seconds from a chunk's arrival to its reply",
                                 ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("edgernn_errors", "Messages answered with an error frame, by code", ["code"], registry=r)
        self.refused = Counter("edgernn_connections_refused", "Connections refused or closed by the server, by reason",
                               ["reason"], registry=r)
        self.predictions = Counter("edgernn_predictions", "Sequences answered by /v1/predict", ["model"], registry=r)

    def cycle_recorder(self, model: str):
        """on_cycle for a model's BatchWorker."""
        batch_size, cycle_seconds, steps = (self.batch_size.labels(model), self.cycle_seconds.labels(model),
                                            self.steps.labels(model))

        def record(streams: int, stream_steps: int, seconds: float) -> None:
            batch_size.observe(streams)
            cycle_seconds.observe(seconds)
            steps.inc(stream_steps)
        return record
