// Shared between probe_check.bpf.c and its user-space half.
#pragma once

#define PROBE_CHECK_MAX_SITES 64
