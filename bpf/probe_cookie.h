// The attach cookie of goscope's uprobes, shared by the BPF programs and
// user/probes/uprobe_links.cc. Low 32 bits: 1 + the address's index in its
// probe site (init functions are told apart by it). The flag below says the
// probe sits on a stack check's `jbe morestack` (symbolizer/probe_sites.h).
#pragma once

#define PROBE_AT_STACK_CHECK_BRANCH (1ULL << 32)
