/**
 * `npm run release`: the whole program in one file, and the same build as a Linux x64 single
 * executable (docs/release.md).
 *
 *   release/mp-sideload.mjs          ESM, runs with `node` >= 20 alone, from any folder
 *   release/mp-sideload-linux-x64    Node's single executable application (no Node.js needed)
 *   release/THIRD-PARTY-NOTICES      the licences of what the two bundle
 *   release/SHA256SUMS               `sha256sum -c` format, one line per artefact
 *
 * The executable is built only on Linux x64 (the Node.js binary that runs this script becomes
 * it). `release/.inputs` records the digest of what the build read (scripts/release-inputs.ts),
 * so that a test can tell a stale release from a current one.
 */
import { build, type Metafile, type Plugin } from "esbuild";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { brotliCompressSync, constants as zlib } from "node:zlib";
import { commitOf, inputsDigest, releaseDir, root } from "./release-inputs.js";

/** The sentinel Node.js looks for to know it carries a SEA blob (the docs' value for Node 20). */
const seaFuse = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/** Build every artefact into `release/` (through a temporary folder, renamed into place). */
export async function buildRelease(): Promise<{ dir: string; artefacts: string[] }> {
  const digest = await inputsDigest();
  const stamp = { version: await packageVersion(), commit: commitOf() };
  const work = `${releaseDir}.building-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const { loader, metafiles } = await vendors();
    metafiles.push(await bundle("esm", join(work, "mp-sideload.mjs"), stamp, loader));
    const artefacts = ["mp-sideload.mjs"];
    if (process.platform === "linux" && process.arch === "x64") {
      metafiles.push(await singleExecutable(work, stamp, loader));
      artefacts.push("mp-sideload-linux-x64");
    } else {
      console.log(`release: no single executable on ${process.platform}-${process.arch} (Linux x64 only)`);
    }
    await writeFile(join(work, "THIRD-PARTY-NOTICES"), await notices(metafiles));
    artefacts.push("THIRD-PARTY-NOTICES");
    await writeFile(join(work, "SHA256SUMS"), await sums(work, artefacts));
    await writeFile(join(work, ".inputs"), `${digest}\n`);
    await rm(releaseDir, { recursive: true, force: true });
    await rename(work, releaseDir);
    return { dir: releaseDir, artefacts: [...artefacts, "SHA256SUMS"] };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * dockerode's BuildKit support: `lib/session.js` (gRPC, protobuf), which its main file requires
 * at the top although only `buildImage` with BuildKit uses it (src/engine/dockerode.ts stubs the
 * same file in the compiled tree), and `lib/buildkit.js` (protobufjs, and a .proto file read from
 * beside it at run time), which only `Docker#followProgress` requires. mp-sideload uses neither:
 * the bundle gets a stand-in for each, and none of that code.
 */
const noBuildKit: Plugin = {
  name: "no-buildkit",
  setup(b) {
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      /[\\/]dockerode[\\/]lib$/.test(args.resolveDir) ? { path: args.path, namespace: "stub" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
      contents: `module.exports = () => { throw new Error(${JSON.stringify(`dockerode's BuildKit support (${args.path}) is not part of mp-sideload`)}); };`,
      loader: "js",
    }));
  },
};

/**
 * Native addons cannot live inside one JavaScript file. Both that mp-sideload's dependencies load
 * are optional and loaded inside a try: ssh2's crypto binding (it then uses Node's crypto and its
 * own JavaScript Poly1305: the same algorithms, chacha20-poly1305 later in its preference) and
 * cpu-features (only consulted for that order). In the release they fail to load, as on a machine
 * where npm could not compile them.
 */
const noNativeAddons: Plugin = {
  name: "no-native-addons",
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, namespace: "native" }));
    b.onLoad({ filter: /.*/, namespace: "native" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path}: native addons are not part of the release`)});`,
      loader: "js",
    }));
  },
};

/**
 * The packages that `inspect` never needs, each bundled on its own into a string that is
 * compiled and run on the first `require` of it (see `vendorLoader`). In one file, V8 compiles
 * everything it is given before the first line runs (~55 ms for 2 MB here); a package kept in a
 * string costs a scan of the string until it is used. What a package imports of another of these
 * goes through the same loader, so each runs once per process, as from node_modules.
 */
const lazyPackages = ["ssh2", "dockerode", "@inquirer/prompts", "ora", "yaml", "smol-toml", "ssh-config"];

/** `import "ssh2"` in the bundle: a module whose exports are the loader's. */
const lazyVendor: Plugin = {
  name: "lazy-vendor",
  setup(b) {
    const names = new RegExp(`^(${lazyPackages.map((n) => n.replace(/[/]/g, "\\/")).join("|")})$`);
    b.onResolve({ filter: names }, (args) => ({ path: args.path, namespace: "vendor" }));
    b.onLoad({ filter: /.*/, namespace: "vendor" }, (args) => ({
      contents: `module.exports = __mpVendor(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

/**
 * Node's own modules through `require`, as modules of the bundle: in an ES module esbuild would
 * hoist every `import … from "node:tls"` of the program to the top of the file, and Node would load
 * https, tls, crypto, child_process, readline… before the first line, for any command (~20 ms).
 * As CommonJS modules they load when the code importing them first runs, as in the compiled tree.
 */
const lazyBuiltins: Plugin = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.namespace === "builtin"
        ? { path: args.path, external: true }
        : { path: args.path, namespace: "builtin" },
    );
    b.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

const minify = { minifyWhitespace: true, minifySyntax: true, legalComments: "none" } as const;

/** One package bundled as the body of a CommonJS function (exports, require, module, __filename, __dirname). */
async function vendorSource(name: string): Promise<{ source: string; metafile: Metafile }> {
  const result = await build({
    stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: root, loader: "js" },
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    ...minify,
    write: false,
    metafile: true,
    logLevel: "warning",
    external: lazyPackages.filter((other) => other !== name),
    plugins: [noBuildKit, noNativeAddons],
  });
  return { source: result.outputFiles[0]?.text ?? "", metafile: result.metafile };
}

/**
 * The loader at the top of the release: the packages' sources, each brotli-compressed and in
 * base64 (V8 scans a string literal character by character, escapes and all: 1.8 MB of quoted
 * JavaScript cost more than the code it kept from being compiled; 0.35 MB of base64 costs little),
 * and `__mpVendor(name)`, which decompresses one, compiles it (named `mp-sideload:vendor/NAME` in
 * stack traces and in V8's coverage, which the tests read to see what ran), runs it once and keeps
 * its exports. `require` is Node's (createRequire in the .mjs; in the executable, its own, which
 * serves Node's modules).
 */
function vendorLoader(sources: Record<string, string>): string {
  const packed = Object.fromEntries(
    Object.entries(sources).map(([name, source]) => [
      name,
      brotliCompressSync(source, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }).toString("base64"),
    ]),
  );
  return `const __mpVendorSources = ${JSON.stringify(packed)};
const __mpVendorModules = new Map();
function __mpVendor(name) {
  const cached = __mpVendorModules.get(name);
  if (cached) return cached.exports;
  const module = { exports: {} };
  __mpVendorModules.set(name, module);
  const source = require("node:zlib").brotliDecompressSync(Buffer.from(__mpVendorSources[name], "base64")).toString("utf8");
  const run = require("node:vm").compileFunction(source, ["exports", "require", "module", "__filename", "__dirname"], { filename: "mp-sideload:vendor/" + name });
  const vendorRequire = (id) => (Object.hasOwn(__mpVendorSources, id) ? __mpVendor(id) : require(id));
  run(module.exports, vendorRequire, module, __filename, __dirname);
  return module.exports;
}
`;
}

/** The lazily compiled packages, built once for both formats. */
async function vendors(): Promise<{ loader: string; metafiles: Metafile[] }> {
  const built = await Promise.all(lazyPackages.map(vendorSource));
  const sources = Object.fromEntries(lazyPackages.map((name, i) => [name, built[i]?.source ?? ""]));
  return { loader: vendorLoader(sources), metafiles: built.map((b) => b.metafile) };
}

/** One bundle of scripts/release-entry.ts: `esm` for node, `cjs` for the single executable. */
async function bundle(
  format: "esm" | "cjs",
  outfile: string,
  stamp: { version: string; commit: string },
  loader: string,
): Promise<Metafile> {
  // CommonJS packages inside an ES module call require() for Node's own modules.
  const esmHead =
    '#!/usr/bin/env node\nimport { createRequire as __mpCreateRequire } from "node:module";\nimport { fileURLToPath as __mpFileURLToPath } from "node:url";\nconst require = __mpCreateRequire(import.meta.url);\nconst __filename = __mpFileURLToPath(import.meta.url);\nconst __dirname = require("node:path").dirname(__filename);\n';
  const result = await build({
    entryPoints: [join(root, "scripts/release-entry.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format,
    ...minify,
    metafile: true,
    logLevel: "warning",
    // The compiled tree reads package.json beside dist/ for --version; the release is stamped.
    define: { MP_SIDELOAD_RELEASE: JSON.stringify(stamp) },
    // In the executable, import.meta is empty: src/ only uses it where releaseBuild is unset.
    logOverride: { "empty-import-meta": "silent" },
    plugins: [lazyVendor, lazyBuiltins, noBuildKit, noNativeAddons],
    banner: { js: `${format === "esm" ? esmHead : ""}${loader}` },
  });
  if (format === "esm") await chmod(outfile, 0o755);
  return result.metafile;
}

/** Node's single executable: the CommonJS bundle with its V8 code cache, injected into a copy of node. */
async function singleExecutable(
  work: string,
  stamp: { version: string; commit: string },
  loader: string,
): Promise<Metafile> {
  const sea = join(work, ".sea");
  await mkdir(sea);
  const main = join(sea, "mp-sideload.cjs");
  const metafile = await bundle("cjs", main, stamp, loader);
  const config = join(sea, "sea-config.json");
  const blob = join(sea, "mp-sideload.blob");
  await writeFile(
    config,
    JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  quietly(process.execPath, ["--experimental-sea-config", config]);
  const exe = join(work, "mp-sideload-linux-x64");
  await copyFile(process.execPath, exe);
  await chmod(exe, 0o755);
  const postject = join(root, "node_modules/postject/dist/cli.js");
  quietly(process.execPath, [postject, exe, "NODE_SEA_BLOB", blob, "--sentinel-fuse", seaFuse]);
  await rm(sea, { recursive: true, force: true });
  return metafile;
}

/**
 * Run a build tool, showing its output only when it fails: postject prints a warning per ELF note
 * section it cannot name, and node a line per blob, on every successful build.
 */
function quietly(command: string, args: string[]): void {
  const run = spawnSync(command, args, { encoding: "utf8" });
  if (run.status !== 0)
    throw new Error(
      `${[command, ...args].join(" ")} failed (${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`,
    );
}

/** Each bundled package once: its name, version, licence field and licence files; then Node.js itself. */
async function notices(metafiles: Metafile[]): Promise<string> {
  const packages = new Set<string>();
  for (const metafile of metafiles)
    for (const input of Object.keys(metafile.inputs)) {
      const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (match?.[1]) packages.add(match[1]);
    }
  const sections: string[] = [
    "mp-sideload bundles the following packages. Each one's licence follows its name.\n" +
      "The single executable (mp-sideload-linux-x64) also contains Node.js: its licence is last.",
  ];
  for (const dir of [...packages].sort()) {
    const pkg = JSON.parse(await readFile(join(root, dir, "package.json"), "utf8")) as {
      name: string;
      version: string;
      license?: string;
    };
    const files = (await readdir(join(root, dir)))
      .filter((f) => /^(licen[cs]e|copying|notice)/i.test(f))
      .sort();
    const texts = await Promise.all(files.map((f) => readFile(join(root, dir, f), "utf8")));
    sections.push(
      `${pkg.name} ${pkg.version} (${pkg.license ?? "no licence field"})\n` +
        (texts.length > 0
          ? texts.join("\n")
          : `(the package carries no licence file; its licence: ${pkg.license})\n`),
    );
  }
  // Where Debian's and NodeSource's packages put it, beside bin/node.
  const nodeLicence = join(dirname(process.execPath), "../share/doc/nodejs/LICENSE");
  sections.push(
    `Node.js ${process.version}\n${await readFile(nodeLicence, "utf8").catch(() => "see https://github.com/nodejs/node/blob/main/LICENSE\n")}`,
  );
  return `${sections.join(`\n${"-".repeat(78)}\n\n`)}`;
}

/** `sha256sum` lines ("<hex>  <name>") for the artefacts in `dir`. */
async function sums(dir: string, names: string[]): Promise<string> {
  const lines = await Promise.all(
    names.map(
      async (name) =>
        `${createHash("sha256")
          .update(await readFile(join(dir, name)))
          .digest("hex")}  ${name}`,
    ),
  );
  return `${lines.join("\n")}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const { dir, artefacts } = await buildRelease();
  console.log(
    `release: ${artefacts.join(", ")} in ${relative(process.cwd(), dir) || "."}/ (${Date.now() - t0} ms)`,
  );
}
