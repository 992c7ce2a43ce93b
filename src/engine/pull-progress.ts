/**
 * The progress of one pull, as a pure fold over the engine's progress events: the engine streams
 * one JSON object per line (`{"status":"Downloading","id":"a1b2…","progressDetail":{…}}`), and
 * `reducePullEvent` turns each into the next state. No I/O here: the line reader, the stall
 * watchdog and the callers live in `engine.ts`.
 */

/** Where one layer is, in the order the engine moves it along. */
export type LayerPhase = "waiting" | "downloading" | "verifying" | "downloaded" | "extracting" | "done";

export interface LayerState {
  readonly phase: LayerPhase;
  /** Bytes of the layer's blob received so far. */
  readonly current: number;
  /** The blob's size, once the engine has said it (0 until then, and for a layer already there). */
  readonly total: number;
  /**
   * Bytes unpacked so far while extracting: not shown (a blob's bytes are what the bar counts),
   * but it is progress, so a long extraction is not taken for a stall.
   */
  readonly extracted?: number;
}

export interface PullState {
  /** By layer id, in the order the layers first appeared. */
  readonly layers: ReadonlyMap<string, LayerState>;
  /** Counts every event that moved the pull on (bytes, a phase, a new layer): the stall watchdog's clock. */
  readonly advances: number;
  /** Set while the engine says "Retrying in N seconds" for a layer, until something moves again. */
  readonly retryingInSeconds?: number | undefined;
  /** The engine's error, when it reported one: the pull failed. */
  readonly error?: string | undefined;
}

/** One line of the engine's pull stream, parsed; every field may be absent or of another type. */
export interface PullEvent {
  status?: unknown;
  id?: unknown;
  error?: unknown;
  errorDetail?: { message?: unknown } | null;
  progressDetail?: { current?: unknown; total?: unknown } | null;
}

/** Progress of one pull, summed over its layers: what the renderers show. */
export interface PullProgress {
  layers: number;
  layersDone: number;
  bytesDone: number;
  bytesTotal: number;
  /** The engine is waiting to retry a layer (the registry went away): shown instead of a stuck bar. */
  retryingInSeconds?: number | undefined;
}

export const initialPullState: PullState = { layers: new Map(), advances: 0 };

/**
 * A real image has at most ~127 layers and 12-character ids: a stream that names more, or
 * longer ones, is not an engine's, and must not grow the state without bound.
 */
const maxLayers = 1000;
const maxIdLength = 128;

const phaseOf: Record<string, LayerPhase> = {
  "Pulling fs layer": "waiting",
  Waiting: "waiting",
  Downloading: "downloading",
  "Verifying Checksum": "verifying",
  "Download complete": "downloaded",
  Extracting: "extracting",
  "Pull complete": "done",
  "Already exists": "done",
};

const phaseOrder: LayerPhase[] = ["waiting", "downloading", "verifying", "downloaded", "extracting", "done"];

/** The state after `event`. Pure: `state` is never changed. */
export function reducePullEvent(state: PullState, event: PullEvent): PullState {
  const error = errorOf(event);
  if (error !== undefined) return { ...state, error };
  const status = typeof event.status === "string" ? event.status : undefined;
  const id = typeof event.id === "string" && event.id.length <= maxIdLength ? event.id : undefined;
  if (status === undefined || id === undefined || status.startsWith("Pulling from")) return state;
  const retrying = /^Retrying in (\d+) seconds?$/.exec(status);
  if (retrying) return { ...state, retryingInSeconds: Number(retrying[1]) };
  const before = state.layers.get(id);
  if (before === undefined && state.layers.size >= maxLayers) return state;
  const after = nextLayer(before, phaseOf[status], event.progressDetail);
  if (before !== undefined && sameLayer(before, after)) return state;
  return {
    layers: new Map(state.layers).set(id, after),
    advances: state.advances + 1,
    retryingInSeconds: undefined,
  };
}

function nextLayer(
  before: LayerState | undefined,
  phase: LayerPhase | undefined,
  detail: PullEvent["progressDetail"],
): LayerState {
  const layer = before ?? { phase: "waiting", current: 0, total: 0 };
  // An unknown status, or one that would move a layer back (a late "Waiting"), changes nothing.
  if (phase === undefined || phaseOrder.indexOf(phase) < phaseOrder.indexOf(layer.phase)) return layer;
  if (phase === "downloading") {
    const said = count(detail?.total);
    // An engine that resumes a broken download counts the rest only (current and total from
    // the offset): keep the blob's size, and count what came before the offset as done.
    const offset = layer.total > 0 && said > 0 && said < layer.total ? layer.total - said : 0;
    const total = offset > 0 ? layer.total : said || layer.total;
    return { phase, current: Math.min(offset + count(detail?.current), total || Infinity), total };
  }
  if (phase === "waiting") return { ...layer, phase };
  // Past the download, the blob is all there: its bytes count as done.
  const done = { ...layer, phase, current: layer.total || layer.current };
  return phase === "extracting" ? { ...done, extracted: count(detail?.current) } : done;
}

function sameLayer(a: LayerState, b: LayerState): boolean {
  return a.phase === b.phase && a.current === b.current && a.total === b.total && a.extracted === b.extracted;
}

function errorOf(event: PullEvent): string | undefined {
  if (typeof event.error === "string" && event.error !== "") return event.error;
  const detail = event.errorDetail?.message;
  return typeof detail === "string" && detail !== "" ? detail : undefined;
}

/** A byte count from the engine: a finite, non-negative integer, else 0. */
function count(value: unknown): number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/** What a renderer shows of `state`. */
export function summarizePull(state: PullState): PullProgress {
  let bytesDone = 0;
  let bytesTotal = 0;
  let layersDone = 0;
  for (const layer of state.layers.values()) {
    bytesDone += layer.current;
    bytesTotal += layer.total;
    if (layer.phase === "done") layersDone++;
  }
  return {
    layers: state.layers.size,
    layersDone,
    bytesDone,
    bytesTotal,
    ...(state.retryingInSeconds === undefined ? {} : { retryingInSeconds: state.retryingInSeconds }),
  };
}

/** One line of the stream as an event; undefined for a blank line or one that is not a JSON object. */
export function parsePullEvent(line: string): PullEvent | undefined {
  if (line.trim() === "") return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
