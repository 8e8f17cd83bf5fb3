#include "src/replication/log_view.h"

#include <fmt/format.h>

#include "src/util/check.h"

namespace toydb::replication {

Lsn LogView::LastLsn() const {
  return pending_.entries.empty() ? Base() : pending_.entries.back().lsn;
}

Term LogView::LastTerm() const {
  StatusOr<Term> term = TermAt(LastLsn());
  TOYDB_CHECK(term.ok(), "the log's last entry has a term");
  return *term;
}

StatusOr<Term> LogView::TermAt(Lsn lsn) const {
  Lsn base = Base();
  if (lsn <= base) return stored_->TermAt(lsn);
  if (lsn - base > pending_.entries.size()) {
    return absl::OutOfRangeError(fmt::format("no entry at LSN {} (last {})", lsn, LastLsn()));
  }
  return pending_.entries[lsn - base - 1].term;
}

Status LogView::Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const {
  if (to > LastLsn() || from > to) {
    return absl::OutOfRangeError(
        fmt::format("entries [{}, {}] beyond the last LSN {}", from, to, LastLsn()));
  }
  size_t first_out = out->size();
  Lsn base = Base();
  if (from <= base) {
    Status status = stored_->Entries(from, std::min(to, base), max_bytes, out);
    if (!status.ok()) return status;
    from = out->back().lsn + 1;
    if (from <= base) return absl::OkStatus();  // the byte budget ran out
  }
  uint64_t bytes = 0;
  for (size_t i = first_out; i < out->size(); ++i) bytes += EntryBytes((*out)[i]);
  for (Lsn lsn = from; lsn <= to; ++lsn) {
    const Entry& entry = pending_.entries[lsn - base - 1];
    if (out->size() > first_out && bytes + EntryBytes(entry) > max_bytes) break;
    bytes += EntryBytes(entry);
    out->push_back(entry);
  }
  return absl::OkStatus();
}

void LogView::AppendAfter(Lsn after, std::vector<Entry> entries) {
  TOYDB_CHECK(after <= LastLsn(), "appends follow on the log");
  for (size_t i = 0; i < entries.size(); ++i) {
    TOYDB_CHECK(entries[i].lsn == after + 1 + i, "entry LSNs are dense");
  }
  Lsn base = Base();
  if (after >= base) {
    pending_.entries.resize(after - base);
  } else {
    pending_.truncate = true;
    pending_.truncate_after = after;
    pending_.entries.clear();
  }
  for (Entry& entry : entries) pending_.entries.push_back(std::move(entry));
}

LogWrite LogView::TakePendingWrite(uint64_t write_id) {
  LogWrite write = std::move(pending_);
  write.write_id = write_id;
  pending_ = LogWrite{};
  return write;
}

}  // namespace toydb::replication
