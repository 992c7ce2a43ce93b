# shellcheck shell=bash
# `deps`: the Debian packages the lab needs, installed once (`up` runs it too).

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v tmux >/dev/null || missing+=(tmux) # the interactive tests drive a real terminal
  [ -x /usr/bin/time ] || missing+=(time)        # peak RSS in bench/inspect.ts
  command -v ansible-inventory >/dev/null || missing+=(ansible) # the inventory tests compare with Ansible itself
  command -v sudo >/dev/null || missing+=(sudo)  # a proxy where root cannot log in (become)
  command -v xmllint >/dev/null || missing+=(libxml2-utils) # the JUnit report test parses with libxml2
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    # A policy-rc.d keeps the packages' own services (a system dockerd, sshd) from starting
    # during the install: the lab runs its own. Removed again if this script put it there.
    local ours=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && ours=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$ours" ] || rm -f /usr/sbin/policy-rc.d
  fi
}

cmd_deps() { need_root && install_packages; }
