# Sourced by .ci/run: Debian's docker-registry (CNCF distribution) for the
# OCI evidence tests. Each test starts its own registry on a free
# 127.0.0.1 port with throw-away storage and stops it, so nothing runs
# between tests; this only installs what is missing.

ensure_oci_registry() {
  if [ -x /usr/bin/docker-registry ]; then
    return 0
  fi
  echo "installing docker-registry" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # The package's own service is not needed (and not started in a container).
  apt-get install -y -q docker-registry >&2
  /usr/bin/docker-registry --version >&2
}
