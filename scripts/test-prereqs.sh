#!/usr/bin/env bash
# Placeholder: browser/npm prerequisites are added with the PWA tests.
exit 0
