// launcher/spec_handoff.h: how `ringmaster run` hands the JobSpec it built to its coordinator
// child: serialized into an anonymous in-memory file (memfd) that the child inherits as a
// descriptor and reads once (`ringmaster coordinator --job-spec-fd N`). The spec is never turned
// back into flags, so the flags are parsed and validated in one place (launcher/job_flags.h).
//
// Thread-safe: no shared state.
#pragma once

#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::launcher {

// A close-on-exec descriptor of a sealed memfd holding `job`, positioned at its start; the
// caller passes it to the child (SpawnSpec::fds) and closes its own copy.
StatusOr<int> job_spec_memfd(const pb::JobSpec& job);

// Reads a serialized JobSpec from `fd` to its end (at most 64 MiB) and closes it. Errors name the
// descriptor: unreadable, too large or not a JobSpec. Validation is the caller's (the
// coordinator's validate_job_request).
StatusOr<pb::JobSpec> read_job_spec_fd(int fd);

}  // namespace ringmaster::launcher
