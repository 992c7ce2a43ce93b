/** The pull's progress as a pure fold over the engine's events: table-driven. */
import { describe, expect, it } from "vitest";
import {
  initialPullState,
  parsePullEvent,
  reducePullEvent,
  summarizePull,
  type PullEvent,
  type PullProgress,
} from "../../src/engine/pull-progress.js";

const fold = (events: PullEvent[]) => events.reduce(reducePullEvent, initialPullState);
const dl = (id: string, current: number, total: number): PullEvent => ({
  status: "Downloading",
  id,
  progressDetail: { current, total },
});

describe("reducePullEvent", () => {
  it.each<[string, PullEvent[], PullProgress]>([
    ["nothing yet", [], { layers: 0, layersDone: 0, bytesDone: 0, bytesTotal: 0 }],
    [
      "'Pulling from' names the image, not a layer",
      [{ status: "Pulling from mp/a", id: "sha256:abc" }],
      { layers: 0, layersDone: 0, bytesDone: 0, bytesTotal: 0 },
    ],
    [
      "layers counted as they appear",
      [
        { status: "Pulling fs layer", id: "l1" },
        { status: "Waiting", id: "l2" },
      ],
      { layers: 2, layersDone: 0, bytesDone: 0, bytesTotal: 0 },
    ],
    [
      "bytes summed over layers while downloading",
      [dl("l1", 10, 100), dl("l2", 5, 50), dl("l1", 40, 100)],
      { layers: 2, layersDone: 0, bytesDone: 45, bytesTotal: 150 },
    ],
    [
      "Verifying Checksum and Download complete count the whole blob",
      [
        dl("l1", 10, 100),
        { status: "Verifying Checksum", id: "l1" },
        dl("l2", 5, 50),
        { status: "Download complete", id: "l2" },
      ],
      { layers: 2, layersDone: 0, bytesDone: 150, bytesTotal: 150 },
    ],
    [
      "Extracting keeps the download's bytes (its own counts are of unpacking)",
      [dl("l1", 10, 100), { status: "Extracting", id: "l1", progressDetail: { current: 5, total: 900 } }],
      { layers: 1, layersDone: 0, bytesDone: 100, bytesTotal: 100 },
    ],
    [
      "Pull complete and Already exists are done",
      [dl("l1", 10, 100), { status: "Pull complete", id: "l1" }, { status: "Already exists", id: "l0" }],
      { layers: 2, layersDone: 2, bytesDone: 100, bytesTotal: 100 },
    ],
    [
      "a late Waiting never moves a layer back",
      [dl("l1", 60, 100), { status: "Waiting", id: "l1" }],
      { layers: 1, layersDone: 0, bytesDone: 60, bytesTotal: 100 },
    ],
    [
      "Retrying in N seconds shows, until something moves",
      [dl("l1", 60, 100), { status: "Retrying in 4 seconds", id: "l1" }],
      { layers: 1, layersDone: 0, bytesDone: 60, bytesTotal: 100, retryingInSeconds: 4 },
    ],
    [
      "...and clears when the download moves again",
      [dl("l1", 60, 100), { status: "Retrying in 4 seconds", id: "l1" }, dl("l1", 70, 100)],
      { layers: 1, layersDone: 0, bytesDone: 70, bytesTotal: 100 },
    ],
    [
      "a resumed download (the engine counts the rest only) keeps the blob's size",
      [dl("l1", 80, 130), { status: "Retrying in 5 seconds", id: "l1" }, dl("l1", 10, 50)],
      { layers: 1, layersDone: 0, bytesDone: 90, bytesTotal: 130 },
    ],
    [
      "hostile numbers count as nothing",
      [{ status: "Downloading", id: "l1", progressDetail: { current: -5, total: "9" } }, dl("l2", 1e300, 10)],
      { layers: 2, layersDone: 0, bytesDone: 0, bytesTotal: 10 },
    ],
    [
      "events without an id or status, and ids too long for a layer, are not layers",
      [
        { status: "Digest: sha256:abc" },
        { id: "l1" },
        { status: "Waiting", id: "x".repeat(200) },
        { status: 7, id: "l2" },
      ],
      { layers: 0, layersDone: 0, bytesDone: 0, bytesTotal: 0 },
    ],
  ])("%s", (_name, events, expected) => {
    expect(summarizePull(fold(events))).toEqual(expected);
  });

  it("records the engine's error, from error or errorDetail", () => {
    expect(fold([{ error: "manifest unknown" }]).error).toBe("manifest unknown");
    expect(fold([{ errorDetail: { message: "no space left on device" } }]).error).toBe(
      "no space left on device",
    );
  });

  it("counts advances only when something moved (the stall watchdog's clock)", () => {
    const moved = fold([dl("l1", 1, 10), dl("l1", 2, 10)]);
    expect(moved.advances).toBe(2);
    expect(reducePullEvent(moved, dl("l1", 2, 10))).toBe(moved);
    expect(reducePullEvent(moved, { status: "Retrying in 5 seconds", id: "l1" }).advances).toBe(2);
    // A long extraction moves too, though the bar (download bytes) stands still.
    const extracting = (current: number): PullEvent => ({
      status: "Extracting",
      id: "l1",
      progressDetail: { current, total: 900 },
    });
    const first = reducePullEvent(moved, extracting(100));
    const second = reducePullEvent(first, extracting(200));
    expect([first.advances, second.advances]).toEqual([3, 4]);
    expect(summarizePull(second)).toEqual(summarizePull(first));
  });

  it("never changes the state it is given", () => {
    const before = fold([dl("l1", 1, 10)]);
    const snapshot = summarizePull(before);
    reducePullEvent(before, dl("l1", 5, 10));
    reducePullEvent(before, { status: "Pull complete", id: "l2" });
    expect(summarizePull(before)).toEqual(snapshot);
  });

  it("stops adding layers past a thousand (a stream that is not an engine's)", () => {
    const many = Array.from({ length: 1500 }, (_, i): PullEvent => ({ status: "Waiting", id: `l${i}` }));
    expect(summarizePull(fold(many)).layers).toBe(1000);
  });
});

describe("parsePullEvent", () => {
  it.each([
    ['{"status":"Waiting","id":"l1"}\r', { status: "Waiting", id: "l1" }],
    ["", undefined],
    ["   \r", undefined],
    ["not json", undefined],
    ["[1,2]", undefined],
    ["null", undefined],
    ['"text"', undefined],
  ])("%j → %j", (line, expected) => {
    expect(parsePullEvent(line)).toEqual(expected);
  });
});
