#!/usr/bin/env bash
# Installs the system packages leitplanke needs, where they are missing.
# Called by the Makefile before the virtual environment is built; safe to run again.
set -euo pipefail

need_apt=()
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubectl)
# the browser test of the offline API documentation drives Debian's Chromium (no browser download)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# `leitplanke drift` reads the desired state from Git with the git CLI
command -v git >/dev/null 2>&1 || need_apt+=(git)
# the insights tests start a real Prometheus (loaded through promtool) and a real Alertmanager on loopback
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
# the report's PDF: WeasyPrint needs Pango; its test reads the PDF back with pdftotext and pdftoppm
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)

if [ ${#need_apt[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup: missing ${need_apt[*]}; run as root or install them (kustomize sources need kubectl, the /docs browser test chromium)" >&2
  exit 0
fi
apt-get update -qq || true
for pkg in "${need_apt[@]}"; do
  if [ "$pkg" = kubectl ]; then
    # Debian ships kubectl in kubernetes-client; a configured Kubernetes repository ships it as kubectl
    apt-get install -y -qq kubectl >/dev/null 2>&1 || apt-get install -y -qq kubernetes-client >/dev/null
  else
    apt-get install -y -qq "$pkg" >/dev/null
  fi
done
