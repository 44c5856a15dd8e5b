#include "launcher/spec_handoff.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace ringmaster::launcher {

namespace {

constexpr size_t kMaxSpecBytes = size_t{64} << 20;

Status write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("job spec memfd", errno);
    done += static_cast<size_t>(n);
  }
  return ok_status();
}

}  // namespace

StatusOr<int> job_spec_memfd(const pb::JobSpec& job) {
  std::string bytes;
  if (!job.SerializeToString(&bytes)) return internal_error("the JobSpec does not serialize");
  const int fd = ::memfd_create("ringmaster-job-spec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return errno_status("memfd_create", errno);
  Status status = write_all(fd, bytes);
  // Sealed, so the child reads exactly what was validated here.
  if (status.ok() &&
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    status = errno_status("sealing the job spec memfd", errno);
  }
  if (status.ok() && ::lseek(fd, 0, SEEK_SET) != 0) status = errno_status("job spec memfd", errno);
  if (!status.ok()) {
    ::close(fd);
    return status;
  }
  return fd;
}

StatusOr<pb::JobSpec> read_job_spec_fd(int fd) {
  const std::string where = "--job-spec-fd " + std::to_string(fd);
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      return errno_status(where, saved);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > kMaxSpecBytes) {
      ::close(fd);
      return invalid_argument(where + ": more than " + std::to_string(kMaxSpecBytes >> 20) +
                              " MiB, not a job spec");
    }
  }
  ::close(fd);
  pb::JobSpec job;
  if (!job.ParseFromString(bytes)) return invalid_argument(where + ": not a serialized JobSpec");
  return job;
}

}  // namespace ringmaster::launcher
