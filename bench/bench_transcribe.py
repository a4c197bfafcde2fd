"""Benchmark: `qa transcribe` (library path) against plain faster-whisper, in one run.

Both sides use the same model (the bundled tiny.en unless --model), the same recognition
options (compute type, beam size 5, VAD on, word timestamps, no conditioning on previous
text, temperature 0 without fallback) and the same files; each stereo file is split into its two channels in both. Model
loading is done before the clock starts on both sides.

* plain: ``decode_audio(split_stereo=True)`` then ``WhisperModel.transcribe`` on each
  channel, one after the other, with ``cpu_threads`` = all cores (how one would use the
  library directly).
* qa: ``qa.transcribe.transcribe_paths`` into a fresh output folder (no cache hits):
  hashing, probing, decoding, recognition, word-time refinement, turn building and writing
  the conversation JSON and the cache entry, with the default workers/threads.

With ``--modes`` it also measures the ways of using the cores: one channel at a time with
all threads, channels in parallel threads sharing one model (the default), and plain
faster-whisper in parallel processes with one thread each.

Usage::

    .venv/bin/python bench/bench_transcribe.py              # the shared real call, 5 files
    .venv/bin/python bench/bench_transcribe.py --modes      # + the parallelism comparison
    .venv/bin/python bench/bench_transcribe.py calls/*.wav --model ~/models/small-ct2
    .venv/bin/python bench/bench_transcribe.py --smoke      # one run on the 45 s cut in tests/data (the tests)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.transcribe import TranscribeOptions, load_model, resolve_model, transcribe_paths  # noqa: E402

SHARED_CALLS = ROOT.parent / "shared" / "data" / "calls"
SMOKE_CALLS = ROOT / "tests" / "data" / "calls"  # the first 45 s of the same call (tests/data/README.md)


def smoke_files(workdir: Path) -> list[Path]:
    """--smoke: the 45 s cut in tests/data as one stereo file (the script runs; no figure to quote)."""
    stereo = workdir / "auto_repairs_40_first45s_stereo.wav"
    subprocess.run(["sox", "-R", "-M", str(SMOKE_CALLS / "auto_repairs_40_agent_first45s.flac"),
                    str(SMOKE_CALLS / "auto_repairs_40_caller_first45s.flac"), str(stereo)], check=True)
    return [stereo]


def default_files(workdir: Path) -> list[Path]:
    """The real 245 s call as stereo, plus four 60 s pieces of it (485 s of stereo audio)."""
    if not SHARED_CALLS.is_dir():
        print(f"{SHARED_CALLS} is absent: measuring on the 45 s cut in tests/data instead "
              "(or pass recordings as arguments)")
        return smoke_files(workdir)
    stereo = workdir / "auto_repairs_40_stereo.wav"
    subprocess.run(["sox", "-R", "-M", str(SHARED_CALLS / "auto_repairs_40_agent.flac"),
                    str(SHARED_CALLS / "auto_repairs_40_caller.flac"), str(stereo)], check=True)
    files = [stereo]
    for i in range(4):
        piece = workdir / f"piece{i}.wav"
        subprocess.run(["sox", "-R", str(stereo), str(piece), "trim", str(i * 60), "60"], check=True)
        files.append(piece)
    return files


def _cpu() -> float:
    """CPU seconds used by this process so far (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _plain_file(model, path: Path, opts: TranscribeOptions) -> int:
    import av
    from faster_whisper import decode_audio

    with av.open(str(path)) as c:
        stereo = c.streams.audio[0].codec_context.channels == 2
    chans = decode_audio(str(path), split_stereo=True) if stereo else [decode_audio(str(path))]
    n = 0
    if opts.batch_size:
        from faster_whisper import BatchedInferencePipeline

        run = lambda audio, **kw: BatchedInferencePipeline(model).transcribe(  # noqa: E731
            audio, batch_size=opts.batch_size, **kw)
    else:
        run = model.transcribe
    for ch in chans:
        segments, _ = run(ch, language=opts.language, beam_size=opts.beam_size,
                          word_timestamps=True, vad_filter=opts.vad,
                          condition_on_previous_text=False, temperature=opts.temperatures())
        n += sum(len(s.words or []) for s in segments)
    return n


def plain(files: list[Path], opts: TranscribeOptions, threads: int) -> tuple[float, int]:
    from faster_whisper import WhisperModel

    ref = resolve_model(opts.model)
    model = WhisperModel(str(ref.path), device=opts.resolved_device(),
                         compute_type=opts.resolved_compute_type(), cpu_threads=threads)
    t, c = time.perf_counter(), _cpu()
    words = sum(_plain_file(model, f, opts) for f in files)
    return time.perf_counter() - t, words, _cpu() - c


_PROC_MODEL = None


def _proc_init(path: str, device: str, compute_type: str) -> None:
    global _PROC_MODEL
    from faster_whisper import WhisperModel

    _PROC_MODEL = WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=1)


def _proc_run(args) -> tuple[int, float]:
    path, opts = args
    c = _cpu()
    n = _plain_file(_PROC_MODEL, path, opts)
    return n, _cpu() - c


def plain_processes(files: list[Path], opts: TranscribeOptions, procs: int) -> tuple[float, int]:
    ref = resolve_model(opts.model)
    with ProcessPoolExecutor(procs, initializer=_proc_init,
                             initargs=(str(ref.path), opts.resolved_device(), opts.resolved_compute_type())) as ex:
        list(ex.map(_proc_init_done, range(procs)))  # models loaded before the clock starts
        t = time.perf_counter()
        got = list(ex.map(_proc_run, [(f, opts) for f in files]))
        return time.perf_counter() - t, sum(n for n, _ in got), sum(c for _, c in got)


def _proc_init_done(_: int) -> int:
    time.sleep(0.2)
    return 0


def qa_path(files: list[Path], opts: TranscribeOptions) -> tuple[float, int, float, float]:
    load_model(resolve_model(opts.model), opts)  # warm: loaded once per process
    out = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        t, c = time.perf_counter(), _cpu()
        results = list(transcribe_paths(files, out, opts, agent_id="bench"))
        wall, cpu = time.perf_counter() - t, _cpu() - c
    finally:
        shutil.rmtree(out, ignore_errors=True)
    bad = [r for r in results if not r.ok]
    if bad:
        raise SystemExit(f"qa failed on {bad[0].path}: {bad[0].error}")
    words = sum(len(w.words) for r in results for w in r.conversation.turns)
    return wall, words, cpu, sum(r.audio_s for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=0,
                    help="use faster-whisper's batched pipeline on both sides")
    ap.add_argument("--modes", action="store_true", help="also compare ways of using the cores")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each variant, interleaved; the best (least loaded) run counts")
    ap.add_argument("--smoke", action="store_true",
                    help="one run on the 45 s cut in tests/data: the script runs (for the tests)")
    args = ap.parse_args()
    if args.smoke:
        args.repeat = 1
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        files = args.files or (smoke_files if args.smoke else default_files)(Path(tmp))
        opts = TranscribeOptions(model=args.model, device=args.device, batch_size=args.batch_size)
        one = TranscribeOptions(model=args.model, device=args.device, workers=1, cpu_threads=cores,
                                batch_size=args.batch_size)
        variants = [
            (f"plain faster-whisper (1 channel at a time, cpu_threads={cores})",
             lambda: plain(files, opts, threads=cores)),
            (f"qa transcribe (default: workers={opts.resolved_workers()}, "
             f"cpu_threads={opts.resolved_cpu_threads()})", lambda: qa_path(files, opts)),
        ]
        if args.modes:
            variants += [
                (f"qa transcribe --workers 1 --cpu-threads {cores}", lambda: qa_path(files, one)),
                (f"plain faster-whisper, {cores} processes x cpu_threads=1",
                 lambda: plain_processes(files, opts, procs=cores)),
            ]
        best: dict[str, tuple] = {}
        for _ in range(max(1, args.repeat)):
            for name, run in variants:
                got = run()
                if name not in best or got[0] < best[name][0]:
                    best[name] = got
        audio_s = next(v[3] for v in best.values() if len(v) == 4)
        rows = [(name, *best[name][:3]) for name, _ in variants]
        plain_wall, qa_wall = rows[0][1], rows[1][1]
    print(f"best of {max(1, args.repeat)} interleaved runs each; load average now "
          f"{os.getloadavg()[0]:.1f} on {cores} cores")
    print(f"{len(files)} files, batch size {opts.batch_size or 'off'}, {audio_s:.1f} s of audio ({audio_s / 60:.1f} min, every stereo file = 2 "
          f"channels); device {opts.resolved_device()}, compute {opts.resolved_compute_type()}, {cores} cores")
    print(f"{'':64} {'wall s':>8} {'x real time':>12} {'CPU s':>7} {'words':>7}")
    for name, wall, words, cpu in rows:
        print(f"{name:64} {wall:8.2f} {audio_s / wall:12.1f} {cpu:7.1f} {words:7d}")
    print(f"qa speed / plain faster-whisper speed = {plain_wall / qa_wall:.2f} (target >= 0.95); "
          f"CPU seconds plain / qa = {rows[0][3] / rows[1][3]:.2f}")


if __name__ == "__main__":
    main()
