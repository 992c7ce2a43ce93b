// @ts-check
/**
 * The architecture's picture: the layers of src/, top to bottom. A module may import modules of
 * its own layer and of the layers below it, never above; and no import cycles, within a layer
 * or across. `npm run deps` checks src/ against it.
 *
 *   cli → doctor/resolve/plan/gate/sideload/prune/coverage/install → session/relay
 *       → engine/registry/credentials/ops → ssh → inventory/pak
 *       → errors/reference (+ the leaf utilities files, streams, abortable)
 */
const layers = [
  ["cli"],
  // The pipeline, a folder per step (docs/architecture.md): resolve the inputs, plan, the registry
  // gate, the run (sideload), prune, coverage, install; doctor beside them.
  ["doctor", "resolve", "plan", "gate", "sideload", "prune", "coverage", "install"],
  // One proxy's session (connection, engine, SFTP), its deadline, the concurrency pool: shared;
  // the relay (a registry inside mp-sideload for proxies that cannot reach the real one).
  ["session", "relay"],
  ["engine", "registry", "credentials", "ops"],
  ["ssh"],
  ["inventory", "pak"],
  // The bottom: errors, reference and the shared leaf utilities, importable from every layer.
  [
    "errors",
    "host-reach",
    "reference",
    "files",
    "streams",
    "abortable",
    "nearest",
    "glob",
    "redact",
    "release-build",
  ],
];

/** A folder src/NAME/ or a file src/NAME.ts. */
const pathOf = (names) => `^src/(${names.join("|")})(/|\\.ts$)`;

/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    ...layers.slice(1).map((layer, index) => ({
      name: `layer-${layer.join("-")}`,
      comment: `${layer.join(", ")} must not import the layers above: ${layers
        .slice(0, index + 1)
        .flat()
        .join(", ")}`,
      severity: "error",
      from: { path: pathOf(layer) },
      to: { path: pathOf(layers.slice(0, index + 1).flat()) },
    })),
    {
      name: "ssh-own-types",
      comment: "ssh/ reaches hosts through its own SshTarget type: it depends on no inventory format",
      severity: "error",
      from: { path: "^src/ssh/" },
      to: { path: "^src/inventory/" },
    },
    {
      name: "in-a-layer",
      comment: "every module of src/ has a place in the layers above: add a new one to a layer",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^src/", pathNot: pathOf(layers.flat()) },
    },
    {
      name: "no-circular",
      comment: "an import cycle hides which module depends on which",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
  },
};
