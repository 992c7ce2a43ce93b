/**
 * What esbuild stamps into the release (scripts/release.ts defines `MP_SIDELOAD_RELEASE`): the
 * version and the commit it was built from. In the compiled tree (`dist/`) nothing defines it, so
 * `releaseBuild` is undefined there, and code that behaves differently in one file (no
 * node_modules beside it) asks this.
 */
declare const MP_SIDELOAD_RELEASE: { version: string; commit: string } | undefined;

/** The release's stamp, or undefined when running from the compiled tree. */
export const releaseBuild: { version: string; commit: string } | undefined =
  typeof MP_SIDELOAD_RELEASE === "undefined" ? undefined : MP_SIDELOAD_RELEASE;
