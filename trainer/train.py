"""The training loop and the `train` library function behind `edgernn train`.

AdamW + cross-entropy on each sequence's last-step logits, Gaussian input noise, gradient-norm
clipping, a cosine learning-rate decay, optional early stopping on validation accuracy (ties
broken by validation loss) with the best weights kept, optional balanced class weights, and a
seed that makes a run repeatable on the same machine and torch build.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from edgernn.runtime.files import write_json_atomic
from edgernn.runtime.errors import InputError
from edgernn.runtime.datasets import SequenceSet
from edgernn.runtime.splits import load_train_test, stratified_fold, stratified_split
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.log import log_to_stderr
from edgernn.runtime.metadata import baseline_warnings, baselines_line
from edgernn.runtime.frontend import FeatureFrontend, FramedFrontend, Frontend, LogMelFrontend, TextFrontend, TokenFrontend
from edgernn.runtime.text import UNK_ID, Vocabulary, tokenize
from edgernn.trainer.augment import FeatureAugment, augment_features
from edgernn.trainer.background import BackgroundMix, add_background
from edgernn.trainer.distributed import BACKEND, SINGLE, Ranks, join, leave
from edgernn.trainer.baselines import baselines
from edgernn.trainer.checkpoint import load_payload, save_checkpoint, save_payload
from edgernn.trainer.config import TrainConfig
from edgernn.trainer.defaults import VALIDATION_SHARE, resolve, resolve_frame, settings_line
from edgernn.trainer.data import Encoded, encode
from edgernn.trainer.metrics import classification_metrics
from edgernn.trainer.wordvec import initialise_embedding, read_word_vectors, train_word_vectors, write_word_vectors
from edgernn.trainer.network import ModelConfig, RecurrentClassifier, last_step
from edgernn.runtime.progress import Progress, time_left
from edgernn.trainer.threads import torch_threads


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float


@dataclass
class FitResult:
    model: RecurrentClassifier
    history: list[EpochRecord]
    best_epoch: int
    stopped_early: bool
    guard_events: list[dict] = field(default_factory=list)  # DivergenceGuard's restorations


def evaluate(model: RecurrentClassifier, data: Encoded, batch_size: int = 256,
             weight: torch.Tensor | None = None) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and predicted class indices int [n], in eval mode."""
    model.eval()
    losses, preds = [], []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            batch = data.subset(np.arange(start, min(start + batch_size, len(data))))
            logits = last_step(model(batch.x)[0], batch.lengths)
            losses.append(nn.functional.cross_entropy(logits, batch.y, weight=weight, reduction="sum").item())
            preds.append(logits.argmax(dim=1).numpy())
    return sum(losses) / max(len(data), 1), np.concatenate(preds)


def evaluate_shared(model: RecurrentClassifier, data: Encoded, ranks: Ranks, weight: torch.Tensor | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over ``data``, each rank answering its rows."""
    if not ranks.active:
        loss, pred = evaluate(model, data, weight=weight)
        return loss, float((pred == data.y.numpy()).mean())
    part = data.subset(np.arange(ranks.rank, len(data), ranks.world))
    loss_sum = correct = 0.0
    if len(part):
        loss, pred = evaluate(model, part, weight=weight)
        loss_sum, correct = loss * len(part), float((pred == part.y.numpy()).sum())
    loss_sum, correct = ranks.sum(loss_sum, correct)
    return loss_sum / len(data), correct / len(data)


def batch_loss(net: nn.Module, batch: Encoded, x: torch.Tensor, weight: torch.Tensor | None,
               ranks: Ranks) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the loss to back-propagate, this rank's logits [rows, classes], their labels [rows]) for
    one batch whose inputs (noise and augmentation drawn) are ``x`` [batch, time, ...]. A rank's
    loss is its rows' share of the whole batch's mean loss times the ranks, so that DDP's average
    of the gradients is the one-process gradient."""
    if not ranks.active:
        logits = last_step(net(x)[0], batch.lengths)
        return nn.functional.cross_entropy(logits, batch.y, weight=weight), logits, batch.y
    rows = ranks.rows(len(batch))
    y = batch.y[rows]
    logits = last_step(net(x[rows])[0], batch.lengths[rows])
    whole = float(weight[batch.y].sum()) if weight is not None else float(len(batch))
    loss = nn.functional.cross_entropy(logits, y, weight=weight, reduction="sum") * (ranks.world / whole)
    return loss, logits, y


def resumed_dropout_state(resume: dict, ranks: Ranks) -> torch.Tensor:
    """This rank's saved dropout generator; a run resumes with the processes it was trained with."""
    saved = resume.get("torch_rng_ranks") or [resume["torch_rng"]]
    if len(saved) != ranks.world:
        raise InputError(f"the run was trained by {len(saved)} process(es); resume it with --nproc {len(saved)}, "
                         f"not {ranks.world}")
    return saved[ranks.rank]


def shuffled_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """Indices of the training cases in random order, cut into batches."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


STATE_EVERY_S = 5.0  # seconds between training states handed to on_epoch (1,000 short epochs: not 1,000 writes)
BUCKET_BATCHES = 50  # batches drawn together and sorted by length before they are cut


def length_bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """Token data (documents of 10 to 1000s of words): random order, then every run of
    BUCKET_BATCHES batches sorted by length before it is cut, and the batches shuffled. A batch
    then pads to about its own length, not the longest document's: ~3x less work on 20
    Newsgroups, and each sequence is still read at its own last step."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    sizes = lengths.numpy()
    batches = []
    for start in range(0, len(order), batch_size * BUCKET_BATCHES):
        chunk = order[start:start + batch_size * BUCKET_BATCHES]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).numpy()
    return [batches[i] for i in shuffle]


def learning_rate_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """The share of the learning rate at optimiser step ``step`` (0-based) of ``total``: a linear
    rise over the first ``warmup`` steps, then a cosine from 1 down to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


# The divergence guard watches the validation loss from this many validation cases on, else the
# training loss: on 9 cases (a quarter of 36) the validation loss of a model that is still
# learning doubles and halves from epoch to epoch, and the guard fired 5 times in one run.
GUARD_VALIDATION_CASES = 100


@dataclass
class DivergenceGuard:
    """Watches the loss it is judged on (validation loss with GUARD_VALIDATION_CASES validation
    cases or more, else training loss) once per epoch. A non-finite loss, or a loss above max(RISE x best, best + MARGIN) for
    STRIKES epochs in a row, means the run is diverging: the weights of the best epoch so far come
    back, the optimiser's moments are cleared and the learning rate is halved for the rest of the
    schedule. Every such event is logged and reported."""

    # A loss that doubles and grows by half a nat is no fluctuation: on a few dozen cases the
    # training loss of an epoch near 0.01 jumps to 0.1-0.3 under input noise and dropout alone.
    RISE = 2.0
    MARGIN = 0.5
    STRIKES = 2

    scale: float = 1.0              # multiplies the scheduled learning rate
    best_loss: float = math.inf
    best_epoch: int = 0
    strikes: int = 0
    events: list[dict] = field(default_factory=list)
    state: dict | None = field(default=None, repr=False)  # the best epoch's weights

    def observe(self, epoch: int, loss: float, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
        """Judge one epoch's loss; on divergence restore, lower the rate and return the event."""
        if math.isfinite(loss) and loss < self.best_loss:
            self.best_loss, self.best_epoch, self.strikes = loss, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
            return None
        self.strikes = self.strikes + 1 if self.diverged(loss) else 0
        if self.strikes < self.STRIKES and math.isfinite(loss) or self.state is None:
            return None
        model.load_state_dict(self.state)
        optimizer.state.clear()
        self.scale *= 0.5
        self.strikes = 0
        event = {"epoch": epoch, "loss": loss if math.isfinite(loss) else str(loss), "best_loss": self.best_loss,
                 "restored_epoch": self.best_epoch, "lr_scale": self.scale}
        self.events.append(event)
        return event

    def diverged(self, loss: float) -> bool:
        """Whether ``loss`` is non-finite or far above the best so far."""
        return self.state is not None and (
            not math.isfinite(loss) or loss > max(self.RISE * self.best_loss, self.best_loss + self.MARGIN))

    def to_state(self) -> dict:
        return {"scale": self.scale, "best_loss": self.best_loss, "best_epoch": self.best_epoch, "strikes": self.strikes,
                "events": list(self.events), "state": self.state}


@dataclass(frozen=True)
class BatchPerturbation:
    """What training does to a batch's inputs before the forward pass, drawn from the training
    generator in this order: log-mel augmentation (audio), Gaussian input noise (feature frames),
    token dropout (tokens: words read as unknown, so that no single word can carry a document)."""
    augment: FeatureAugment
    noise: float = 0.0
    token_dropout: float = 0.0

    @classmethod
    def of(cls, config: TrainConfig, input_kind: str) -> "BatchPerturbation":
        return cls(FeatureAugment(config.band_warp, config.band_mask, config.time_mask),
                   config.input_noise if input_kind == "features" else 0.0,
                   config.token_dropout if input_kind == "tokens" else 0.0)

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.augment.active:
            x = augment_features(x, lengths, self.augment, generator)
        if self.noise > 0:
            x = x + self.noise * torch.randn(x.shape, generator=generator)
        if self.token_dropout > 0:
            x = torch.where((torch.rand(x.shape, generator=generator) < self.token_dropout) & (x > UNK_ID), UNK_ID, x)
        return x


def run_epoch(net: nn.Module, model: RecurrentClassifier, train: Encoded, config: TrainConfig,
              generator: torch.Generator, optimizer: torch.optim.Optimizer, schedule, weight: torch.Tensor | None,
              ranks: Ranks, perturb: BatchPerturbation) -> tuple[float, int]:
    """One pass over ``train`` in shuffled batches (by length for tokens), one update per batch
    -> (summed loss, correct predictions), added over ranks. ``net`` is ``model``, or its DDP
    wrapper in a distributed run. A non-finite loss updates nothing (DivergenceGuard sees it)."""
    model.train()
    batches = (length_bucketed_batches if model.config.input_kind == "tokens" else shuffled_batches)(
        train.lengths, config.batch_size, generator)
    total_loss, correct = 0.0, 0
    for index in batches:
        batch = train.subset(index)
        loss, logits, y = batch_loss(net, batch, perturb(batch.x, batch.lengths, generator), weight, ranks)
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss.item()
        if ranks.active:  # every rank steps back (DDP's all-reduce); a non-finite loss anywhere makes every gradient so
            loss.backward()
            if math.isfinite(nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)):
                optimizer.step()
        elif math.isfinite(loss_value):
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
        schedule.step()
        total_loss += loss_value * len(batch) / ranks.world
        correct += int((logits.argmax(dim=1) == y).sum())
    total_loss, correct = ranks.sum(total_loss, correct)
    return total_loss, int(correct)


def fit(model: RecurrentClassifier, train: Encoded, val: Encoded | None, config: TrainConfig,
        log: Callable[[str], None] = log_to_stderr, resume: dict | None = None,
        on_epoch: Callable[[dict], None] | None = None,
        epoch_hook: Callable[[EpochRecord], None] | None = None, ranks: Ranks = SINGLE,
        progress: bool = False) -> FitResult:
    """Train ``model`` in place; returns it holding the kept weights (the best validation epoch's,
    or the last epoch's without validation data).

    ranks: this process's share of a distributed run (trainer/distributed.py: every rank calls
    fit with the same arguments, takes its rows of each batch and of the validation split, and
    gets the same result; only the leader's on_epoch runs).

    config: settings left unset are decided from ``train``'s size (trainer/defaults.py).
    on_epoch(state): called after a completed epoch, at most every STATE_EVERY_S seconds, with
    everything needed to go on (``training_state``); ``resume``: such a state, to continue after its epoch exactly as the
    uninterrupted run would have (same batches, noise, dropout masks and updates).
    epoch_hook(record): called with every epoch's record once it is logged; an exception it raises
    ends the run there (`edgernn tune` prunes hopeless trials so).
    progress: a progress bar over the epochs on stderr, with the time left (a terminal's).
    """
    config, _ = resolve(config, len(train) + (len(val) if val is not None else 0))
    torch.manual_seed(config.seed + ranks.rank)  # dropout masks: each rank its own
    generator = torch.Generator().manual_seed(config.seed)
    weight = None
    if config.class_weights:
        counts = torch.bincount(train.y, minlength=model.config.classes).clamp(min=1).float()
        weight = counts.sum() / (len(counts) * counts)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = max(1, round(config.warmup_share * total_steps)) if config.warmup_share > 0 else 0
    guard = DivergenceGuard()
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: guard.scale * learning_rate_factor(step, total_steps, warmup_steps, config.min_lr_ratio))
    history: list[EpochRecord] = []
    best = (-1.0, math.inf)
    best_state, best_epoch, stale = copy.deepcopy(model.state_dict()), 0, 0
    first_epoch = 1
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        generator.set_state(resume["generator"])
        torch.set_rng_state(resumed_dropout_state(resume, ranks))
        history = [EpochRecord(**r) for r in resume["history"]]
        best, best_state = tuple(resume["best"]), resume["best_state"]
        best_epoch, stale, first_epoch = resume["best_epoch"], resume["stale"], resume["epoch"] + 1
        guard = DivergenceGuard(**resume["guard"])
        log(f"resuming after epoch {resume['epoch']} of {config.epochs}")
    last_state = -math.inf  # when on_epoch last ran (the first epoch always hands its state over)
    net = DistributedDataParallel(model) if ranks.active else model  # DDP averages the gradients over ranks
    perturb = BatchPerturbation.of(config, model.config.input_kind)
    bar = Progress.start(config.epochs, "epochs", progress and ranks.leader, done=first_epoch - 1)
    say = bar.around(log)
    for epoch in range(first_epoch, config.epochs + 1):
        started = time.perf_counter()
        total_loss, correct = run_epoch(net, model, train, config, generator, optimizer, schedule, weight, ranks, perturb)
        record = EpochRecord(epoch, total_loss / len(train), correct / len(train), None, None,
                             optimizer.param_groups[0]["lr"], 0.0)
        if val is not None and len(val):
            record.val_loss, record.val_accuracy = evaluate_shared(model, val, ranks, weight)
            score = (record.val_accuracy, -record.val_loss)
            if score > (best[0], -best[1]):
                best, best_state, best_epoch, stale = (record.val_accuracy, record.val_loss), copy.deepcopy(model.state_dict()), epoch, 0
            else:
                stale += 1
        else:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
        guard_on_validation = record.val_loss is not None and len(val) >= GUARD_VALIDATION_CASES
        event = guard.observe(epoch, record.val_loss if guard_on_validation else record.loss, model, optimizer)
        if event is not None:
            which = "validation" if guard_on_validation else "training"
            log(f"divergence guard: {which} loss {event['loss']} at epoch {epoch} against the best {event['best_loss']:.4f}: "
                f"restored epoch {event['restored_epoch']}'s weights, learning rate now x{event['lr_scale']:g} of the schedule")
            if record.val_loss is None:
                best_state, best_epoch = copy.deepcopy(model.state_dict()), event["restored_epoch"]
        record.seconds = round(time.perf_counter() - started, 3)
        history.append(record)
        dropout_states = ranks.gather(torch.get_rng_state())  # every rank takes part; the leader keeps them
        if on_epoch is not None and ranks.leader and time.perf_counter() - last_state >= STATE_EVERY_S:
            last_state = time.perf_counter()
            on_epoch({"epoch": epoch, "model": copy.deepcopy(model.state_dict()), "optimizer": optimizer.state_dict(),
                      "schedule": schedule.state_dict(), "generator": generator.get_state(),
                      "torch_rng": dropout_states[0], "torch_rng_ranks": dropout_states,
                      "history": [asdict(r) for r in history],
                      "best": list(best), "best_state": best_state, "best_epoch": best_epoch, "stale": stale,
                      "guard": guard.to_state()})
        val_text = "" if record.val_accuracy is None else f" val_loss {record.val_loss:.4f} val_acc {record.val_accuracy:.4f}"
        left = time_left(history[-(epoch - first_epoch + 1):], config.epochs - epoch)
        say(f"epoch {epoch}/{config.epochs} loss {record.loss:.4f} acc {record.train_accuracy:.4f}{val_text} "
            f"({record.seconds:.1f}s{left})")
        bar.advance(1, f"loss {record.loss:.4f}" + ("" if record.val_accuracy is None else f", val_acc {record.val_accuracy:.4f}"))
        if epoch_hook is not None:
            epoch_hook(record)
        if stale >= config.patience:
            say(f"early stop: no better validation score for {config.patience} epochs; best epoch {best_epoch}")
            break
    bar.close()
    if history and history[-1].val_loss is None and guard.diverged(history[-1].loss):
        # no validation split, and the run ended well above its best training loss: keep the best
        best_state, best_epoch = guard.state, guard.best_epoch
        log(f"divergence guard: the last epoch's loss {history[-1].loss:.4f} is far above the best {guard.best_loss:.4f}; "
            f"keeping epoch {best_epoch}'s weights")
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(model, history, best_epoch, stopped_early=stale >= config.patience, guard_events=guard.events)


def load_word_vectors(model: RecurrentClassifier, frontend: Frontend, path: str, log: Callable[[str], None]) -> None:
    """Initialise a text model's embedding from a word2vec/GloVe text file (trainer/wordvec.py)."""
    if not isinstance(frontend, TextFrontend):
        raise InputError(f"--word-vectors needs text data; this data set holds {frontend.kind}")
    vectors, found = read_word_vectors(path, frontend.vocabulary)
    initialise_embedding(model.embedding, vectors, found)
    log(f"word vectors: {int(found.sum())} of {len(found)} vocabulary words found in {path}")


def pretrain_word_vectors(model: RecurrentClassifier, frontend: Frontend, train_set: SequenceSet, config: TrainConfig,
                          log: Callable[[str], None], save_to: Path | None = None) -> None:
    """Initialise a text model's embedding with skip-gram vectors of the training split's words
    (written to ``save_to`` in word2vec text format, for --word-vectors in later runs)."""
    if not isinstance(frontend, TextFrontend):
        raise InputError(f"--pretrain-epochs needs text data; this data set holds {frontend.kind}")
    documents = [frontend.vocabulary.encode(text) for text in train_set.sequences]
    vectors = train_word_vectors(documents, len(frontend.vocabulary), model.config.embed_dim, epochs=config.pretrain_epochs,
                                 seed=config.seed, log=log)
    if save_to is not None:
        write_word_vectors(save_to, frontend.vocabulary, vectors)
        log(f"word vectors: wrote {save_to}")
    found = np.ones(len(vectors), dtype=bool)
    found[:2] = False  # padding and unknown keep their random rows
    initialise_embedding(model.embedding, vectors, found)


def with_background(train_set: SequenceSet, test_set: SequenceSet, config: TrainConfig) -> tuple[SequenceSet, SequenceSet, np.ndarray]:
    """Both splits with the background class ``config.background`` (trainer/background.py).

    The validation clips are held out of the raw training clips before the mix, so that no copy
    of one (a trail or an onset copy) is trained on, and mixed on their own: the data's own list
    (Speech Commands' validation_list.txt) when ``val_fraction`` is unset, else a stratified
    ``val_fraction`` (unset: VALIDATION_SHARE at any size: a model for streams is calibrated on
    held-out clips, export/calibrate.py). Returns (the training clips mixed followed by the
    validation clips mixed, the latter listed in ``validation``; the test split with background
    clips added; the indices of the raw training clips held out, int64 [k])."""
    if train_set.input_kind != "audio":
        raise InputError(f"--background needs audio recordings (WAV data); {train_set.source} holds {train_set.input_kind}")
    mix = BackgroundMix(config.background, preceding_share=config.preceding_share, noise_share=config.noise_share,
                        snr_db=tuple(config.snr_db), gain_db=config.gain_db,
                        room_change_share=config.room_change_share, noise_onset_share=config.noise_onset_share)
    if train_set.validation is not None and config.val_fraction is None:
        held = np.sort(train_set.validation)
    else:
        share = VALIDATION_SHARE if config.val_fraction is None else config.val_fraction
        held = stratified_split(train_set.label_ids(train_set.classes), share, config.seed)[1]
    kept = np.setdiff1d(np.arange(len(train_set)), held)
    mixed = add_background(train_set.take(kept, train_set.source), mix, config.seed)
    if len(held):
        validation = add_background(train_set.take(held, train_set.source), mix, config.seed + 2)
        mixed = SequenceSet(mixed.sequences + validation.sequences, mixed.labels + validation.labels, mixed.classes,
                            mixed.name, mixed.source, sample_rate=mixed.sample_rate,
                            validation=np.arange(len(mixed), len(mixed) + len(validation)))
    return mixed, add_background(test_set, BackgroundMix(config.background), config.seed + 1, words=False), held


def fit_frontend(train_set: SequenceSet, test_set: SequenceSet, config: TrainConfig) -> Frontend:
    """Feature data: per-channel mean/std of the training split, then ``config.frame`` steps per
    recurrent step when it is above 1. Audio: log-mel frames at the
    data's sample rate, per-band mean/std of the training split. Text: a vocabulary of the
    training split's words. Token data: the declared vocabulary size, else one past the largest
    id in either split."""
    if train_set.input_kind == "features":
        norm = FeatureFrontend.fit(train_set.sequences, normalize=config.normalize)
        return FramedFrontend(norm, config.frame) if config.frame and config.frame > 1 else norm
    if train_set.input_kind == "audio":
        logmel = LogMelConfig(sample_rate=train_set.sample_rate, window_ms=config.window_ms, hop_ms=config.hop_ms,
                              mel_bands=config.mel_bands, mean_norm_ms=config.mean_norm_ms)
        return LogMelFrontend.fit(train_set.sequences, logmel, normalize=config.normalize)
    if train_set.input_kind == "text":
        vocabulary = Vocabulary.build((tokenize(text) for text in train_set.sequences), config.max_vocab, config.min_count)
        return TextFrontend(vocabulary, config.max_tokens)
    vocab = train_set.vocab_size or max(int(s.max(initial=0)) for s in (*train_set.sequences, *test_set.sequences)) + 1
    return TokenFrontend(max(vocab, 2))


@dataclass
class TrainOutcome:
    run_dir: Path
    checkpoint: Path
    model: RecurrentClassifier
    labels: list[str]
    metrics: dict
    history: list[EpochRecord]
    dataset: dict
    test_set: SequenceSet = field(repr=False)


def train(data: str | Path, out: str | Path, model_config: dict, config: TrainConfig,
          test: str | Path | None = None, log: Callable[[str], None] = log_to_stderr,
          label_regex: str | None = None, test_regex: str | None = None, resume: dict | None = None,
          strip: tuple[str, ...] = (), evaluate_test: bool = True,
          epoch_hook: Callable[[EpochRecord], None] | None = None, progress: bool = False) -> TrainOutcome | None:
    """Read the data, fit, evaluate on the test split and write the run folder.

    model_config: ModelConfig fields other than those the data decides (features, classes).
    label_regex/test_regex: for a folder of WAV files (see runtime/wav.py). strip: for text data,
    the parts of Usenet posts to remove (runtime/corpus.py).
    Writes out/model.pt, out/history.json and out/metrics.json, each atomically. After the first
    epoch and then every STATE_EVERY_S seconds, out/train_state.pt holds what ``resume_training``
    needs to go on from that epoch after an interruption; it is removed once the run is complete. ``resume``: such a state.
    evaluate_test False: the test split is not answered (no test metrics, no baselines; metrics
    hold the kept epoch's ``validation_accuracy``), as a search must judge on validation alone.
    epoch_hook: see ``fit``.
    """
    call = {"data": str(Path(data).resolve()), "test": str(Path(test).resolve()) if test else None,
            "label_regex": label_regex, "test_regex": test_regex, "strip": list(strip),
            "test_fraction": config.test_fraction, "seed": config.seed,
            "model_config": dict(model_config), "train_config": asdict(config)}
    ranks = join()  # under torchrun (`--nproc`): this process's rank; else the only one
    if not ranks.leader:
        log = ignore_log
    try:
        with torch_threads(config.threads):  # config.threads None: the process's setting; restored after
            outcome = train_run(Path(out), call, config, log, resume, evaluate_test, epoch_hook, ranks, progress)
    except BaseException:
        leave(finished=False)
        raise
    leave(finished=True)
    return outcome


def ignore_log(message: str) -> None:
    """The log of a rank other than the leader: one process speaks for the run."""


def distributed_summary(model: RecurrentClassifier, ranks: Ranks) -> dict:
    """How a distributed run was trained, and whether every rank ended with the same weights (a
    SHA-256 of each rank's parameters, compared on every rank)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    digests = ranks.gather(digest.hexdigest())
    return {"processes": ranks.world, "backend": BACKEND, "weights_sha256": digests[0],
            "weights_identical": len(set(digests)) == 1}


def train_run(run_dir: Path, call: dict, config: TrainConfig, log: Callable[[str], None], resume: dict | None,
              evaluate_test: bool = True, epoch_hook: Callable[[EpochRecord], None] | None = None,
              ranks: Ranks = SINGLE, progress: bool = False) -> TrainOutcome | None:
    """The body of ``train``, with the call's arguments as recorded in the training state; None on
    the ranks other than the leader of a distributed run, which write nothing."""
    data, test, strip, model_config = call["data"], call["test"], call["strip"], call["model_config"]
    label_regex, test_regex = call["label_regex"], call["test_regex"]
    train_set, test_set = load_train_test(data, test, label_regex, test_regex, tuple(strip), config.test_fraction, config.seed)
    held_clips = None
    if config.background:
        train_set, test_set, held_clips = with_background(train_set, test_set, config)
        config = replace(config, val_fraction=None if len(held_clips) else 0.0)  # None: validate on the clips held out
    labels = train_set.classes
    if FeatureAugment(config.band_warp, config.band_mask, config.time_mask).active and train_set.input_kind != "audio":
        raise InputError(f"--band-warp, --band-mask and --time-mask act on log-mel bands and need audio recordings (WAV data); "
                         f"{train_set.source} holds {train_set.input_kind}")
    config, frame_setting = resolve_frame(config, [len(s) for s in train_set.sequences] if train_set.input_kind == "features" else None)
    frontend = fit_frontend(train_set, test_set, config)
    if train_set.input_kind in ("tokens", "text"):
        sizes = {"input_kind": "tokens", "vocab_size": frontend.vocab_size}
    else:  # audio reaches the graph as log-mel feature frames
        sizes = {"input_kind": "features", "features": frontend.features}
    readout = model_config.get("readout") or ("mean" if train_set.input_kind == "text" else "last")
    settings_readout = {"readout": {"value": readout, "chosen": "given" if model_config.get("readout") else "data"}}
    model_cfg = ModelConfig(**{**model_config, **sizes, "classes": len(labels), "readout": readout})
    full = encode(train_set, frontend, labels)
    test_enc = encode(test_set, frontend, labels)
    if config.val_folds:  # cross-validation: one fold's share held out
        config = replace(config, val_fraction=1 / config.val_folds)
    listed_validation = train_set.validation if config.val_fraction is None else None
    config, settings = resolve(config, len(full))
    settings.update(frame_setting)
    settings.update(settings_readout)
    if listed_validation is not None:  # the data's own validation cases (Speech Commands' validation_list.txt)
        val_idx = np.sort(listed_validation)
        train_idx = np.setdiff1d(np.arange(len(full)), val_idx)
        config = replace(config, val_fraction=len(val_idx) / len(full))
        settings["val_fraction"] = {"value": round(config.val_fraction, 4), "chosen": "data",
                                    "cases": "the training clips held out before the background mix" if config.background
                                    else "the data's own list"}
    elif config.val_folds:
        train_idx, val_idx = stratified_fold(full.y.numpy(), config.val_folds, config.val_fold, config.seed)
        settings["val_fraction"]["cases"] = f"fold {config.val_fold + 1} of {config.val_folds}"
    else:
        train_idx, val_idx = stratified_split(full.y.numpy(), config.val_fraction, config.seed)
    dataset = {"name": train_set.name, "train": len(train_idx), "validation": len(val_idx), "test": len(test_set),
               "classes": len(labels), "features": model_cfg.features or 1,
               # "given" (the data's own test split) or {"fraction", "seed"} (held out here)
               "test_split": test_set.held_out or "given",
               "train_path": str(Path(train_set.source).resolve()), "test_path": str(Path(test_set.source).resolve()),
               # how to read the splits again (export's calibration and held-out data)
               "load": {k: call[k] for k in ("data", "test", "label_regex", "test_regex", "strip", "test_fraction", "seed")}}
    if held_clips is not None:  # which raw training clips were never trained on (export/calibrate.py)
        dataset["validation_clips"] = held_clips.tolist()
    log(f"{train_set.name}: {len(train_idx)} train / {len(val_idx)} validation / {len(test_set)} test cases, "
        f"{len(labels)} classes, {model_cfg.features or 1} features; {model_cfg.cell} hidden {model_cfg.hidden} x{model_cfg.layers}")
    log(settings_line(settings))
    torch.manual_seed(config.seed)
    model = RecurrentClassifier(model_cfg)
    if config.word_vectors and config.pretrain_epochs:
        raise InputError("give either --word-vectors (a file) or --pretrain-epochs (vectors trained here), not both")
    if config.word_vectors:
        load_word_vectors(model, frontend, config.word_vectors, log)
    if config.pretrain_epochs and resume is None:
        pretrain_word_vectors(model, frontend, train_set, config, log, save_to=run_dir / "word_vectors.txt" if ranks.leader else None)
    if config.freeze_embedding:
        if not (config.word_vectors or config.pretrain_epochs):
            raise InputError("--freeze-embedding keeps word vectors fixed: give --word-vectors or --pretrain-epochs too")
        model.embedding.weight.requires_grad_(False)  # AdamW skips a parameter without a gradient
    state_path = run_dir / TRAIN_STATE
    result = fit(model, full.subset(train_idx), full.subset(val_idx) if len(val_idx) else None, config, log,
                 resume=resume, on_epoch=lambda state: save_training_state(state_path, call, state), epoch_hook=epoch_hook,
                 ranks=ranks, progress=progress)
    if ranks.active:
        dataset["distributed"] = distributed_summary(model, ranks)
        if not ranks.leader:
            return None
    if not evaluate_test:
        return validation_outcome(run_dir, model, labels, frontend, config, dataset, result, test_set)
    _, test_pred = evaluate(model, test_enc)
    metrics = classification_metrics(test_enc.y.numpy(), test_pred, labels)
    metrics.update({"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                    "parameters": model.parameter_count(), "settings": settings, "kept": kept_weights(result),
                    "divergence_guard": result.guard_events})
    log(f"test accuracy {metrics['accuracy']:.4f} ({len(test_set)} cases); kept {metrics['kept']}")
    dataset["baselines"] = baselines(full.subset(train_idx), test_enc, labels, model_cfg.vocab_size, config.seed)
    metrics["warnings"] = baseline_warnings(metrics["accuracy"], dataset["baselines"])
    log(baselines_line(dataset["baselines"]))
    for warning in metrics["warnings"]:
        log(f"warning: {warning}")
    checkpoint = write_run_folder(run_dir, model, labels, frontend, config, dataset, result,
                                  "test", metrics, {"test_accuracy": metrics["accuracy"]})
    return TrainOutcome(run_dir, checkpoint, model, labels, metrics, result.history, dataset, test_set)


def write_run_folder(run_dir: Path, model: RecurrentClassifier, labels: list[str], frontend: Frontend, config: TrainConfig,
                     dataset: dict, result: FitResult, split: str, metrics: dict, headline: dict) -> Path:
    """model.pt (with ``headline`` as its metrics), history.json and metrics.json ({split: metrics,
    "dataset"}), each atomically; the training state goes, as nothing is left to resume."""
    checkpoint = save_checkpoint(run_dir / "model.pt", model, labels, frontend.to_json(), train_config=asdict(config),
                                 dataset=dataset, background=config.background or None, metrics=headline)
    write_json_atomic(run_dir / "history.json", [asdict(r) for r in result.history])
    write_json_atomic(run_dir / "metrics.json", {split: metrics, "dataset": dataset})
    (run_dir / TRAIN_STATE).unlink(missing_ok=True)
    return checkpoint


def kept_weights(result: FitResult) -> str:
    """Which epoch's weights the run kept, and why, in words."""
    restored = f"; the divergence guard restored earlier weights {len(result.guard_events)}x" if result.guard_events else ""
    last = result.history[-1]
    if last.val_accuracy is None and result.best_epoch == last.epoch:
        return f"the weights of epoch {result.best_epoch}, the last (no validation split){restored}"
    if last.val_accuracy is None:
        return (f"the weights of epoch {result.best_epoch}, the lowest training loss (no validation split; the last "
                f"epoch's loss was far above it){restored}")
    why = "early stop: " if result.stopped_early else ""
    best = result.history[result.best_epoch - 1] if result.best_epoch else last
    return (f"the weights of epoch {result.best_epoch} of {len(result.history)}, the best validation accuracy "
            f"{best.val_accuracy:.4f} (loss {best.val_loss:.4f}; {why}{last.epoch - result.best_epoch} epochs after it){restored}")


def validation_outcome(run_dir: Path, model: RecurrentClassifier, labels: list[str], frontend: Frontend, config: TrainConfig,
                       dataset: dict, result: FitResult, test_set: SequenceSet) -> TrainOutcome:
    """The run folder of a run judged on validation alone: the checkpoint and history, and metrics
    with the kept epoch's validation accuracy and no test figure."""
    kept = result.history[result.best_epoch - 1] if result.best_epoch else result.history[-1]
    metrics = {"validation_accuracy": kept.val_accuracy, "best_epoch": result.best_epoch,
               "epochs_run": len(result.history), "kept": kept_weights(result), "divergence_guard": result.guard_events}
    checkpoint = write_run_folder(run_dir, model, labels, frontend, config, dataset, result,
                                  "validation", metrics, {"validation_accuracy": kept.val_accuracy})
    return TrainOutcome(run_dir, checkpoint, model, labels, metrics, result.history, dataset, test_set)


TRAIN_STATE = "train_state.pt"
TRAIN_STATE_FORMAT = "edgernn.train_state"
TRAIN_STATE_VERSION = 1


def save_training_state(path: Path, call: dict, state: dict) -> None:
    """Write the state after an epoch, with the arguments of the run, atomically (an interrupted
    write leaves the previous epoch's state in place)."""
    save_payload(path, {"format": TRAIN_STATE_FORMAT, "version": TRAIN_STATE_VERSION, "call": call, **state})


def resume_training(run_dir: str | Path, log: Callable[[str], None] = log_to_stderr,
                    threads: int | None = None, progress: bool = False) -> TrainOutcome | None:
    """Continue an interrupted `train` in ``run_dir`` from its last completed epoch; the result
    equals the uninterrupted run's (same data, settings and seed, read from the saved state)."""
    path = Path(run_dir) / TRAIN_STATE
    if not path.is_file():
        done = " (the run is complete: model.pt is there)" if (Path(run_dir) / "model.pt").is_file() else ""
        raise InputError(f"{run_dir}: no {TRAIN_STATE} to resume from{done}")
    state = load_payload(path, "training state", TRAIN_STATE_FORMAT, TRAIN_STATE_VERSION, ("call",))
    call = state["call"]
    config = TrainConfig.from_record({**call["train_config"], "threads": threads or call["train_config"].get("threads")})
    return train(call["data"], run_dir, call["model_config"], config, test=call["test"], log=log,
                 label_regex=call["label_regex"], test_regex=call["test_regex"], resume=state,
                 strip=tuple(call.get("strip", ())), progress=progress)
