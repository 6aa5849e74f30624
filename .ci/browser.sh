# Sourced by .ci/run: Debian's Chromium and ChromeDriver for the browser
# tests (the HTML report and the registry's web UI). Each test starts its
# own chromedriver on a free 127.0.0.1 port and stops it, so nothing runs
# between tests; this only installs what is missing.

ensure_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return 0
  fi
  echo "installing chromium and chromium-driver" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q chromium chromium-driver >&2
  /usr/bin/chromium --version >&2
}
