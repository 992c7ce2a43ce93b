import { SideloadError } from "../errors.js";

/**
 * A proxy's REGISTRY_UNREACHABLE for a registry this machine reaches: the same error, with the
 * hint that `pull --relay` carries the image through the SSH connection (pull and doctor say it).
 */
export function relayHinted(error: SideloadError, registry: string): SideloadError {
  return new SideloadError(error.code, error.message, {
    hint: `this machine reaches ${registry} but the proxy does not: pull --relay carries the image through the SSH connection`,
    cause: error,
  });
}
