// SessionTable (session_table.h).
#include "src/storage/replica/session_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "src/util/check.h"
#include "src/util/coding.h"

namespace toydb {
namespace {
// Fixed bytes of an encoded session: client_id, sequence, lsn, code,
// version, message length.
constexpr size_t kSessionFixedBytes = 8 + 8 + 8 + 1 + 8 + 4;
// Messages are short texts built by apply; longer is damage.
constexpr uint64_t kMessageBytesMax = 4096;
}  // namespace

SessionTable::SessionTable(uint32_t capacity) : capacity_(capacity) {
  TOYDB_CHECK(capacity_ >= 1, "a session table holds at least one session");
}

const SessionTable::Entry* SessionTable::Find(uint64_t client_id) const {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

void SessionTable::Record(uint64_t client_id, uint64_t sequence, Lsn lsn, const Status& status,
                          Lsn version) {
  // Eviction by lowest LSN is deterministic only if LSNs only grow.
  TOYDB_CHECK(by_lsn_.empty() || by_lsn_.rbegin()->first < lsn,
              fmt::format("session of client {} recorded at LSN {}, not above the last, {}",
                          client_id, lsn, by_lsn_.empty() ? 0 : by_lsn_.rbegin()->first));
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) {
    if (sessions_.size() >= capacity_) EvictOldest();
    it = sessions_.emplace(client_id, Entry{}).first;
  } else {
    by_lsn_.erase(it->second.lsn);
  }
  it->second = Entry{sequence, lsn, status, version};
  by_lsn_[lsn] = client_id;
}

void SessionTable::EvictOldest() {
  auto oldest = by_lsn_.begin();
  sessions_.erase(oldest->second);
  by_lsn_.erase(oldest);
}

std::string SessionTable::Encode() const {
  if (sessions_.empty()) return std::string();
  // Sorted, so that equal tables encode to equal bytes.
  std::vector<uint64_t> clients;
  clients.reserve(sessions_.size());
  for (const auto& [client, entry] : sessions_) clients.push_back(client);
  std::sort(clients.begin(), clients.end());
  std::string out;
  PutFixed32(&out, static_cast<uint32_t>(clients.size()));
  for (uint64_t client : clients) {
    const Entry& e = sessions_.at(client);
    PutFixed64(&out, client);
    PutFixed64(&out, e.sequence);
    PutFixed64(&out, e.lsn);
    PutFixed8(&out, static_cast<uint8_t>(e.status.code()));
    PutFixed64(&out, e.version);
    PutBytes(&out, std::string_view(e.status.message().data(), e.status.message().size()));
  }
  return out;
}

StatusOr<SessionTable> SessionTable::Decode(std::string_view bytes, uint32_t capacity,
                                            Lsn applied_lsn) {
  auto damaged = [](std::string_view why) {
    return absl::DataLossError(fmt::format("session table is damaged: {}", why));
  };
  SessionTable table(capacity);
  if (bytes.empty()) return table;
  Decoder d(bytes);
  uint32_t count = 0;
  if (!d.U32(&count) || count > d.remaining() / kSessionFixedBytes) return damaged("bad count");
  // Sessions in LSN order, so that eviction (if the limit shrank) follows
  // the same rule as at apply.
  std::vector<std::pair<uint64_t, Entry>> sessions(count);
  uint64_t previous_client = 0;
  for (uint32_t i = 0; i < count; ++i) {
    auto& [client, e] = sessions[i];
    uint8_t code = 0;
    std::string_view message;
    if (!d.U64(&client) || !d.U64(&e.sequence) || !d.U64(&e.lsn) || !d.U8(&code) ||
        !d.U64(&e.version) || !d.Bytes(&message, kMessageBytesMax)) {
      return damaged("truncated session");
    }
    if (client == 0 || (i > 0 && client <= previous_client)) return damaged("client ids unsorted");
    if (code > static_cast<uint8_t>(absl::StatusCode::kUnauthenticated) || e.lsn == 0 ||
        e.lsn > applied_lsn) {
      return damaged("bad session fields");
    }
    previous_client = client;
    e.status = code == 0 ? absl::OkStatus()
                         : Status(static_cast<absl::StatusCode>(code), std::string(message));
  }
  if (!d.done()) return damaged("trailing bytes");
  std::sort(sessions.begin(), sessions.end(),
            [](const auto& a, const auto& b) { return a.second.lsn < b.second.lsn; });
  for (size_t i = 1; i < sessions.size(); ++i) {
    if (sessions[i].second.lsn == sessions[i - 1].second.lsn) return damaged("repeated LSN");
  }
  for (const auto& [client, e] : sessions) {
    table.Record(client, e.sequence, e.lsn, e.status, e.version);
  }
  return table;
}

}  // namespace toydb
