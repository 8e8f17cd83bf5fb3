#ifndef TOYDB_STORAGE_REPLICA_SNAPSHOT_STAGING_H_
#define TOYDB_STORAGE_REPLICA_SNAPSHOT_STAGING_H_

// SnapshotStaging: the receiving side of a snapshot transfer. Chunks are
// appended, in order, to incoming-<lsn>-<term>.snap in the replica's
// directory and synced before they are acknowledged, so the file's size is
// what arrived durably and a transfer resumes there after a restart. Only
// one snapshot is staged: the first chunk of another (lsn, term) removes the
// others. A staged file holds a prefix of the sender's stream (a crash can
// only cut it); damage to it is caught by the checksum at Verify. Owned by
// the ReplicaStore; not thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "toydb/env.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

class SnapshotStaging {
 public:
  SnapshotStaging(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

  std::string PathFor(Lsn lsn, Term term) const;
  // Bytes of (lsn, term) received so far (0 if none is staged).
  uint64_t ReceivedBytes(Lsn lsn, Term term);
  // InvalidArgument unless `offset` == ReceivedBytes(lsn, term).
  [[nodiscard]] Status Receive(Lsn lsn, Term term, uint64_t offset, std::string_view data);
  // OK if the staged (lsn, term) holds exactly `size` bytes whose checksum is
  // `checksum`. FailedPrecondition while bytes are missing (the transfer
  // goes on); DataLoss, after which the staged bytes are dropped, if the
  // bytes are too many or their checksum differs.
  [[nodiscard]] Status Verify(Lsn lsn, Term term, uint64_t size, uint64_t checksum);
  // Removes staged snapshots: all of them, or those at or below `lsn`.
  void DropAll() {
    DropIf([](Lsn) { return true; });
  }
  void DropUpTo(Lsn lsn) {
    DropIf([lsn](Lsn staged) { return staged <= lsn; });
  }

 private:
  template <typename Pred>
  void DropIf(Pred pred);
  static bool ParseName(std::string_view name, Lsn* lsn, Term* term);

  Env* const env_;
  const std::string dir_;
  // The file being appended to, kept open between chunks.
  std::string open_path_;
  std::unique_ptr<WritableFile> file_;
};

template <typename Pred>
void SnapshotStaging::DropIf(Pred pred) {
  StatusOr<std::vector<std::string>> names = env_->GetChildren(dir_);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    Lsn lsn = 0;
    Term term = 0;
    if (!ParseName(name, &lsn, &term) || !pred(lsn)) continue;
    const std::string path = JoinPath(dir_, name);
    if (path == open_path_) {
      file_.reset();
      open_path_.clear();
    }
    // Best effort: a file left behind is dropped again later.
    env_->RemoveFile(path).IgnoreError();
  }
}

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_SNAPSHOT_STAGING_H_
