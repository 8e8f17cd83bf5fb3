// Store::Repair: rebuilds CHECKPOINT from the data segments and the WAL when
// it is lost, damaged or stale. Data segments describe themselves (each record
// carries its LSN and a checksum), so their usable extent can be found by
// reading them; the WAL supplies every write from its first LSN on. Repair
// writes a new CHECKPOINT and copies what it leaves out to lost/; it deletes
// nothing.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "src/storage/datalog/data_format.h"
#include "src/storage/datalog/data_segment.h"
#include "src/storage/datalog/hint_file.h"
#include "src/storage/store/checkpoint.h"
#include "src/storage/store/store_impl.h"
#include "src/storage/wal/wal.h"
#include "src/util/coding.h"

namespace toydb {
namespace {

constexpr uint64_t kScanChunkBytes = 4u << 20;

// The usable extent of one data segment file.
struct SegmentExtent {
  uint32_t id = 0;
  uint64_t file_size = 0;
  uint64_t length = 0;  // Bytes of valid records kept, from offset 0.
  uint64_t records = 0;
  uint64_t min_lsn = UINT64_MAX;
  uint64_t max_lsn = 0;
  bool hint_matches = false;  // A verified hint file describes exactly [0, length).
  std::string stop_reason;    // Why the extent ends before the file does.
};

// The end of the last record a verified hint file lists, if it verifies.
std::optional<uint64_t> HintEnd(Env* env, const std::string& path) {
  if (!env->FileExists(path)) return std::nullopt;
  uint64_t end = 0;
  Status s = ReadHintFile(env, path, [&](const HintEntry& h) {
    end = std::max<uint64_t>(end, uint64_t{h.offset} + h.length);
  });
  if (!s.ok()) return std::nullopt;
  return end;
}

// Reads valid records from offset 0 until the first damaged one, the first
// one past `lsn_limit`, or `bound` (a hint's end). Without a hint, a record
// whose LSN is below the highest seen so far ends the extent too: a segment
// written by the store's writes is in LSN order, and older records after its
// end are stale bytes of a reused file (a compaction output, which is not in
// LSN order, always has a hint).
StatusOr<SegmentExtent> ScanExtent(Env* env, const std::string& dir, uint32_t id,
                                   uint64_t lsn_limit) {
  const std::string path = JoinPath(dir, DataSegmentFileName(id));
  SegmentExtent extent;
  extent.id = id;
  StatusOr<uint64_t> size = env->GetFileSize(path);
  if (!size.ok()) return size.status();
  extent.file_size = *size;
  const std::optional<uint64_t> hint_end = HintEnd(env, JoinPath(dir, HintFileName(id)));
  const uint64_t bound = hint_end.has_value() ? std::min(*hint_end, *size) : *size;
  StatusOr<std::unique_ptr<RandomAccessFile>> file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  std::string buffer;
  uint64_t offset = 0;
  while (offset < bound) {
    if (Status s = (*file)->Read(offset, std::min(kScanChunkBytes, bound - offset), &buffer);
        !s.ok()) {
      return s;
    }
    if (buffer.size() >= data_format::kHeaderBytes) {
      // A record larger than a chunk: read it whole.
      const uint64_t total =
          data_format::RecordBytes(DecodeFixed32(buffer.data() + data_format::kKeyLenOffset),
                                   DecodeFixed32(buffer.data() + data_format::kValueLenOffset));
      if (total > buffer.size() && offset + total <= bound) {
        if (Status s = (*file)->Read(offset, total, &buffer); !s.ok()) return s;
      }
    }
    std::string_view pending = buffer;
    uint64_t consumed = 0;
    while (!pending.empty()) {
      data_format::Record record;
      uint64_t bytes = 0;
      const data_format::DecodeResult result = data_format::DecodeRecord(pending, &record, &bytes);
      if (result == data_format::DecodeResult::kTruncated && consumed > 0) break;  // Next chunk.
      if (result != data_format::DecodeResult::kOk) {
        extent.stop_reason = result == data_format::DecodeResult::kTruncated
                                 ? "a record cut short by the end of the file"
                                 : "a damaged record";
        break;
      }
      if (lsn_limit != 0 && record.lsn > lsn_limit) {
        extent.stop_reason =
            fmt::format("LSN {}, past the WAL's last LSN {}", record.lsn, lsn_limit);
        break;
      }
      if (!hint_end.has_value() && record.lsn < extent.max_lsn) {
        extent.stop_reason = fmt::format("LSN {} after LSN {}: stale bytes of a reused file",
                                         record.lsn, extent.max_lsn);
        break;
      }
      extent.records++;
      extent.min_lsn = std::min(extent.min_lsn, record.lsn);
      extent.max_lsn = std::max(extent.max_lsn, record.lsn);
      consumed += bytes;
      pending.remove_prefix(bytes);
    }
    offset += consumed;
    extent.length = offset;
    if (!extent.stop_reason.empty() || consumed == 0) break;
  }
  if (extent.stop_reason.empty() && extent.length < bound) {
    extent.stop_reason = "a record cut short by the end of the file";
  }
  if (extent.stop_reason.empty() && extent.length < *size) {
    extent.stop_reason = "the end its hint file records";
  }
  extent.hint_matches = hint_end.has_value() && *hint_end == extent.length;
  return extent;
}

// Copies the bytes of `path` from `from` on to lost/<name>.<from>.
Status CopyAside(Env* env, const std::string& dir, const std::string& name, uint64_t from,
                 std::string* lost_path) {
  const std::string lost_dir = JoinPath(dir, "lost");
  if (Status s = env->CreateDir(lost_dir); !s.ok()) return s;
  StatusOr<std::string> bytes = env->ReadFileToString(JoinPath(dir, name));
  if (!bytes.ok()) return bytes.status();
  *lost_path = JoinPath(lost_dir, fmt::format("{}.{}", name, from));
  if (Status s = env->WriteFileAtomically(*lost_path, std::string_view(*bytes).substr(from));
      !s.ok()) {
    return s;
  }
  return env->SyncDir(dir);
}

// Segment ids that a readable checkpoint shows were replaced by a
// compaction: below its next id, yet not named. A checkpoint drops a
// segment only once the segments holding its live records are named, so
// even a stale checkpoint proves this.
std::set<uint32_t> ReplacedSegments(const StatusOr<CheckpointState>& old,
                                    const std::vector<uint32_t>& ids) {
  std::set<uint32_t> replaced;
  if (!old.ok()) return replaced;
  std::set<uint32_t> named;
  for (const CheckpointSegment& s : old->segments) named.insert(s.id);
  for (uint32_t id : ids) {
    if (id < old->next_segment_id && !named.contains(id)) replaced.insert(id);
  }
  return replaced;
}

void Note(RepairReport* report, const std::string& line) {
  report->summary += line;
  report->summary += '\n';
}

}  // namespace

StatusOr<RepairReport> StoreImpl::Repair(const StoreOptions& options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  const std::string& dir = options.dir;
  StatusOr<std::unique_ptr<FileLock>> lock = env->LockFile(JoinPath(dir, "LOCK"));
  if (!lock.ok()) return lock.status();
  RepairReport report;

  const bool had_checkpoint = env->FileExists(JoinPath(dir, kCheckpointFileName));
  const StatusOr<CheckpointState> old = ReadCheckpoint(env, dir);
  if (!had_checkpoint) {
    Note(&report, "CHECKPOINT was missing");
  } else if (!old.ok()) {
    Note(&report, fmt::format("CHECKPOINT was unreadable ({}): ignored",
                              std::string(old.status().message())));
  } else {
    Note(&report, fmt::format("CHECKPOINT (applied LSN {}) used only to tell which segments a "
                              "compaction replaced",
                              old->applied_lsn));
  }

  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env, WalOptionsFor(options, /*replica=*/false));
  if (!wal.ok()) return wal.status();
  const bool wal_empty = (*wal)->last_lsn() < (*wal)->first_lsn();
  report.wal_first_lsn = (*wal)->first_lsn();
  report.wal_last_lsn = (*wal)->last_lsn();
  Note(&report,
       wal_empty
           ? fmt::format("the WAL holds no record (it starts after LSN {})", (*wal)->last_lsn())
           : fmt::format("the WAL holds LSNs {} to {}", (*wal)->first_lsn(), (*wal)->last_lsn()));

  StatusOr<std::vector<std::string>> names = env->GetChildren(dir);
  if (!names.ok()) return names.status();
  std::vector<uint32_t> ids;
  for (const std::string& name : *names) {
    uint32_t id = 0;
    if (ParseDataSegmentFileName(name, &id)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  const std::set<uint32_t> replaced = ReplacedSegments(old, ids);

  CheckpointState state;
  // Above every file and every id an old checkpoint may have handed out.
  state.next_segment_id =
      std::max<uint32_t>(ids.empty() ? 1 : ids.back() + 1, old.ok() ? old->next_segment_id : 1);
  uint64_t data_max_lsn = 0;
  for (uint32_t id : ids) {
    const std::string name = DataSegmentFileName(id);
    if (replaced.contains(id)) {
      report.segments_dropped++;
      Note(&report, fmt::format("{}: left out, replaced by a compaction", name));
      continue;
    }
    // Records past the WAL's end were never durable in it; an empty WAL
    // (lost, or never written) limits nothing.
    StatusOr<SegmentExtent> extent = ScanExtent(env, dir, id, wal_empty ? 0 : (*wal)->last_lsn());
    if (!extent.ok()) return extent.status();
    if (extent->length < extent->file_size) {
      std::string lost_path;
      if (Status s = CopyAside(env, dir, name, extent->length, &lost_path); !s.ok()) return s;
      report.bytes_not_kept += extent->file_size - extent->length;
      Note(&report, fmt::format("{}: kept {} of {} bytes, stopped at {}; the rest is in {}", name,
                                extent->length, extent->file_size, extent->stop_reason, lost_path));
    }
    if (!extent->hint_matches && env->FileExists(JoinPath(dir, HintFileName(id)))) {
      // Derived data that does not describe the kept extent: rebuilt later.
      if (Status s = env->RemoveFile(JoinPath(dir, HintFileName(id))); !s.ok()) return s;
    }
    if (extent->records == 0) {
      report.segments_dropped++;
      Note(&report, fmt::format("{}: left out, no valid record", name));
      continue;
    }
    report.segments_kept++;
    report.records_kept += extent->records;
    data_max_lsn = std::max(data_max_lsn, extent->max_lsn);
    state.segments.push_back(CheckpointSegment{.id = id,
                                               .length = extent->length,
                                               .min_lsn = extent->min_lsn,
                                               .max_lsn = extent->max_lsn,
                                               .sealed = true});
  }

  if (wal_empty && data_max_lsn > (*wal)->last_lsn()) {
    // The log restarts after the newest write the data segments hold.
    if (Status s = (*wal)->Reset(data_max_lsn, (*wal)->last_term()); !s.ok()) return s;
    Note(&report, fmt::format("the WAL was restarted after LSN {}", data_max_lsn));
  }
  state.applied_lsn = (*wal)->first_lsn() - 1;
  if (!wal_empty && data_max_lsn + 1 < (*wal)->first_lsn()) {
    Note(&report, fmt::format("warning: the data segments end at LSN {} and the WAL starts at "
                              "{}: writes in between are lost unless later writes replaced them",
                              data_max_lsn, (*wal)->first_lsn()));
  }
  report.applied_lsn = state.applied_lsn;
  wal->reset();
  if (Status s = WriteCheckpoint(env, dir, state); !s.ok()) return s;
  Note(&report, fmt::format("wrote CHECKPOINT: {} segments, applied LSN {}; Open replays the "
                            "WAL after it and removes the files it leaves out",
                            state.segments.size(), state.applied_lsn));
  return report;
}

}  // namespace toydb
