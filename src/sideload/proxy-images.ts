import type { Proxy } from "../inventory/proxy.js";
import type { AdapterImage } from "../pak/read-paks.js";

/**
 * The images a proxy works on: every image of the run, or (with `--only-failed`) those an
 * earlier run left unfinished on it.
 */
export function imagesFor(proxy: Proxy, images: AdapterImage[]): AdapterImage[] {
  const only = proxy.references;
  return only === undefined ? images : images.filter((i) => only.includes(i.reference));
}
