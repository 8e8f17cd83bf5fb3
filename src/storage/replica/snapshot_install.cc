// BuildStateDirFromSnapshot (snapshot_install.h).
#include "src/storage/replica/snapshot_install.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "src/storage/datalog/data_segment.h"
#include "src/storage/replica/session_table.h"
#include "src/storage/replica/snapshot_format.h"
#include "src/storage/replica/state_dir.h"
#include "src/storage/store/checkpoint.h"
#include "src/storage/store/store_impl.h"
#include "src/storage/wal/wal.h"

namespace toydb {
namespace {

// Writes snapshot entries into sealed, synced data segments.
class SegmentBuilder {
 public:
  SegmentBuilder(Env* env, const StoreOptions& options) : env_(env), options_(options) {}

  Status Add(std::string_view key, std::string_view value, Lsn version) {
    const uint64_t bytes = data_format::RecordBytes(key.size(), value.size());
    if (segment_ != nullptr && segment_->size() + bytes > options_.data_segment_bytes_max) {
      if (Status s = Finish(); !s.ok()) return s;
    }
    if (segment_ == nullptr) {
      StatusOr<std::shared_ptr<DataSegment>> created =
          DataSegment::Create(env_, options_.dir, next_id_++);
      if (!created.ok()) return created.status();
      segment_ = *created;
    }
    StatusOr<uint64_t> at = segment_->AppendRecord(version, /*tombstone=*/false, key, value);
    if (!at.ok()) return at.status();
    segment_->min_lsn = std::min(segment_->min_lsn, version);
    segment_->max_lsn = std::max(segment_->max_lsn, version);
    return segment_->FlushIfFull();
  }

  // Seals and syncs the segment being written, and lists it.
  Status Finish() {
    if (segment_ == nullptr) return absl::OkStatus();
    if (Status s = segment_->Seal(); !s.ok()) return s;
    if (Status s = segment_->SyncWritten(); !s.ok()) return s;
    segments_.push_back(CheckpointSegment{segment_->id(), segment_->size(), segment_->min_lsn,
                                          segment_->max_lsn, /*sealed=*/true});
    segment_ = nullptr;
    return absl::OkStatus();
  }

  const std::vector<CheckpointSegment>& segments() const { return segments_; }
  uint32_t next_id() const { return next_id_; }

 private:
  Env* const env_;
  const StoreOptions& options_;
  uint32_t next_id_ = 1;
  std::shared_ptr<DataSegment> segment_;
  std::vector<CheckpointSegment> segments_;
};

Status CopyEntries(SnapshotReader* reader, const StoreOptions& options, Lsn lsn,
                   SegmentBuilder* builder) {
  SnapshotReader::Entry entry;
  while (true) {
    StatusOr<bool> more = reader->Next(options.key_bytes_max, options.value_bytes_max, &entry);
    if (!more.ok()) return more.status();
    if (!*more) return builder->Finish();
    // A version is the LSN of a write the snapshot includes.
    if (entry.version == 0 || entry.version > lsn) {
      return absl::DataLossError(
          fmt::format("snapshot at LSN {} holds a key of version {}", lsn, entry.version));
    }
    if (Status s = builder->Add(entry.key, entry.value, entry.version); !s.ok()) return s;
  }
}

// An empty log whose next record is lsn + 1, durably.
Status ResetWal(const StoreOptions& options, Lsn lsn, Term term) {
  WalOptions wal_options = StoreImpl::WalOptionsFor(options, /*replica=*/true);
  if (Status s = options.env->CreateDir(wal_options.dir); !s.ok()) return s;
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(options.env, wal_options);
  if (!wal.ok()) return wal.status();
  return (*wal)->Reset(lsn, term);
}

}  // namespace

Status BuildStateDirFromSnapshot(const StoreOptions& options, const std::string& snapshot_path,
                                 uint64_t size, Lsn lsn, Term term, uint32_t session_count_max) {
  Env* env = options.env;
  if (Status s = CreateEmptyDir(env, options.dir); !s.ok()) return s;
  StatusOr<std::unique_ptr<RandomAccessFile>> file = env->NewRandomAccessFile(snapshot_path);
  if (!file.ok()) return file.status();
  SnapshotReader reader(std::move(*file), size);
  StatusOr<SnapshotReader::Header> header = reader.ReadHeader();
  if (!header.ok()) return header.status();
  if (header->lsn != lsn || header->term != term) {
    return absl::DataLossError(
        fmt::format("snapshot stream is of LSN {} (term {}), expected LSN {} (term {})",
                    header->lsn, header->term, lsn, term));
  }
  // Decoded only to refuse a damaged table now rather than at Open.
  StatusOr<SessionTable> sessions = SessionTable::Decode(header->sessions, session_count_max, lsn);
  if (!sessions.ok()) return sessions.status();
  SegmentBuilder builder(env, options);
  if (Status s = CopyEntries(&reader, options, lsn, &builder); !s.ok()) return s;
  if (Status s = ResetWal(options, lsn, term); !s.ok()) return s;
  CheckpointState state;
  state.applied_lsn = lsn;
  state.next_segment_id = builder.next_id();
  state.segments = builder.segments();
  state.replica_state = sessions->Encode();
  // Its directory sync also makes the segments' and the WAL's names durable.
  return WriteCheckpoint(env, options.dir, state);
}

}  // namespace toydb
