// Tests of StoreOptions::Validate (every field's range, named in the error)
// and of batches at the limits the options document.
#include <catch2/catch.hpp>
#include <functional>
#include <limits>
#include <string>

#include "tests/storage/store_test_util.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

// Builds a batch of exactly `ops` puts and `bytes` key+value bytes, whose
// first operation has a key of `key_bytes_max` and a value of
// `value_bytes_max`; the other keys are distinct, and the rest of the bytes
// is spread over their values.
WriteBatch BatchOfExactly(uint32_t ops, uint64_t bytes, uint32_t key_bytes_max,
                          uint32_t value_bytes_max) {
  REQUIRE(ops >= 2);
  const auto key = [](uint32_t i) { return std::to_string(1000000 + i); };  // 7 bytes
  const uint64_t fixed = uint64_t{key_bytes_max} + value_bytes_max + 7 * uint64_t{ops - 1};
  REQUIRE(fixed <= bytes);
  const uint64_t each = (bytes - fixed) / (ops - 1);
  const uint64_t extra = (bytes - fixed) % (ops - 1);
  REQUIRE(each + extra <= value_bytes_max);
  WriteBatch batch;
  batch.Put(std::string(key_bytes_max, 'K'), std::string(value_bytes_max, 'V'));
  for (uint32_t i = 1; i < ops; ++i)
    batch.Put(key(i), std::string(each + (i == 1 ? extra : 0), 'v'));
  REQUIRE(batch.size() == ops);
  REQUIRE(batch.bytes() == bytes);
  return batch;
}

void CheckBatchStored(Store& store, const WriteBatch& batch, uint64_t lsn) {
  for (const WriteBatch::Op& op : batch.ops()) {
    StatusOr<VersionedValue> v = store.GetVersioned(op.key);
    REQUIRE(v.ok());
    CHECK(v->value == op.value);
    CHECK(v->version == lsn);
  }
}

TEST_CASE("A batch at every documented limit at once is stored, and survives a reopen",
          "[store][options]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.key_bytes_max = 64;
  options.value_bytes_max = 2048;
  options.batch_ops_max = 100;
  options.batch_bytes_max = 8192;
  auto store = OpenOrDie(options);
  const WriteBatch batch = BatchOfExactly(100, 8192, 64, 2048);
  StatusOr<uint64_t> lsn = store->Write({}, batch);
  INFO(lsn.status().ToString());
  REQUIRE(lsn.ok());
  CheckBatchStored(*store, batch, *lsn);
  store.reset();
  store = OpenOrDie(options);
  CheckBatchStored(*store, batch, *lsn);
}

TEST_CASE("A batch at the default limits (10000 operations, 64 MiB) is stored",
          "[store][options]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  const StoreOptions defaults;
  options.key_bytes_max = defaults.key_bytes_max;
  options.value_bytes_max = defaults.value_bytes_max;
  options.batch_ops_max = defaults.batch_ops_max;
  options.batch_bytes_max = defaults.batch_bytes_max;
  auto store = OpenOrDie(options);
  const WriteBatch batch = BatchOfExactly(options.batch_ops_max, options.batch_bytes_max,
                                          options.key_bytes_max, options.value_bytes_max);
  StatusOr<uint64_t> lsn = store->Write({}, batch);
  INFO(lsn.status().ToString());
  REQUIRE(lsn.ok());
  CheckBatchStored(*store, batch, *lsn);
}

// Regression: the WAL's record limit was computed as batch_bytes_max +
// 16 * batch_ops_max in 32 bits, so above 2^28 operations it wrapped to a few
// bytes over batch_bytes_max and refused batches within every limit.
TEST_CASE("batch_ops_max above 2^28 does not shrink the WAL record limit", "[store][options]") {
  for (uint32_t max_ops : {(1u << 28) + 1, UINT32_MAX}) {
    CAPTURE(max_ops);
    MemEnv env;
    StoreOptions options = MemStoreOptions(&env);
    options.key_bytes_max = 16;
    options.value_bytes_max = 1024;
    options.batch_ops_max = max_ops;
    options.batch_bytes_max = 4096;
    auto store = OpenOrDie(options);
    // 40 operations of 102 bytes: the encoding adds 9 bytes per operation,
    // more than the wrapped limit's slack.
    WriteBatch batch;
    for (int i = 0; i < 40; ++i) batch.Put(std::to_string(1000 + i), std::string(98, 'v'));
    REQUIRE(batch.bytes() <= options.batch_bytes_max);
    StatusOr<uint64_t> lsn = store->Write({}, batch);
    INFO(lsn.status().ToString());
    REQUIRE(lsn.ok());
    CheckBatchStored(*store, batch, *lsn);
  }
}

// Returns the status Store::Open gives options changed by `change`.
Status OpenStatus(const std::function<void(StoreOptions&)>& change) {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  change(options);
  StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  return store.status();
}

// Checks that Validate and Open refuse the change with InvalidArgument naming `field`.
void CheckRefused(const std::string& field, const std::function<void(StoreOptions&)>& change) {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  change(options);
  const Status validated = options.Validate();
  CAPTURE(field, validated.ToString());
  CHECK(absl::IsInvalidArgument(validated));
  CHECK(validated.message().find("StoreOptions." + field + " ") != std::string_view::npos);
  CHECK(OpenStatus(change) == validated);
}

void CheckAccepted(const std::function<void(StoreOptions&)>& change) {
  const Status s = OpenStatus(change);
  INFO(s.ToString());
  CHECK(s.ok());
}

TEST_CASE("StoreOptions::Validate refuses an out-of-range SyncPolicy", "[store][options]") {
  CheckRefused("sync_policy", [](StoreOptions& o) { o.sync_policy = static_cast<SyncPolicy>(3); });
  CheckRefused("sync_policy",
               [](StoreOptions& o) { o.sync_policy = static_cast<SyncPolicy>(255); });
  for (SyncPolicy p : {SyncPolicy::kEveryWrite, SyncPolicy::kInterval, SyncPolicy::kNone}) {
    CheckAccepted([p](StoreOptions& o) { o.sync_policy = p; });
  }
}

TEST_CASE("StoreOptions::Validate refuses every field out of its range, naming it",
          "[store][options]") {
  constexpr uint64_t kMiB = 1u << 20, kGiB = 1u << 30;
  CheckRefused("dir", [](StoreOptions& o) { o.dir = ""; });
  CheckRefused("key_bytes_max", [](StoreOptions& o) { o.key_bytes_max = 0; });
  CheckRefused("key_bytes_max", [](StoreOptions& o) { o.key_bytes_max = 65536; });
  CheckRefused("value_bytes_max", [](StoreOptions& o) { o.value_bytes_max = 256 * kMiB + 1; });
  CheckRefused("batch_ops_max", [](StoreOptions& o) { o.batch_ops_max = 0; });
  CheckRefused("batch_bytes_max", [](StoreOptions& o) { o.batch_bytes_max = 0; });
  CheckRefused("batch_bytes_max", [](StoreOptions& o) {
    o.batch_bytes_max = uint64_t{o.key_bytes_max} + o.value_bytes_max - 1;
  });
  CheckRefused("batch_bytes_max", [](StoreOptions& o) { o.batch_bytes_max = 512 * kMiB + 1; });
  CheckRefused("sync_interval_ms", [](StoreOptions& o) {
    o.sync_policy = SyncPolicy::kInterval;
    o.sync_interval_ms = 0;
  });
  CheckRefused("wal_write_buffer_bytes",
               [](StoreOptions& o) { o.wal_write_buffer_bytes = kGiB + 1; });
  CheckRefused("wal_segment_bytes_max", [](StoreOptions& o) { o.wal_segment_bytes_max = 4095; });
  CheckRefused("wal_segment_bytes_max",
               [](StoreOptions& o) { o.wal_segment_bytes_max = 4 * kGiB + 1; });
  CheckRefused("wal_preallocate_bytes",
               [](StoreOptions& o) { o.wal_preallocate_bytes = kGiB + 1; });
  CheckRefused("data_segment_bytes_max", [](StoreOptions& o) { o.data_segment_bytes_max = 4095; });
  CheckRefused("data_segment_bytes_max",
               [](StoreOptions& o) { o.data_segment_bytes_max = kGiB + 1; });
  CheckRefused("checkpoint_wal_bytes", [](StoreOptions& o) { o.checkpoint_wal_bytes = 0; });
  for (double ratio : {0.0, -0.5, 1.000001, std::numeric_limits<double>::quiet_NaN(),
                       std::numeric_limits<double>::infinity()}) {
    CAPTURE(ratio);
    CheckRefused("compaction_garbage_ratio",
                 [ratio](StoreOptions& o) { o.compaction_garbage_ratio = ratio; });
  }
}

TEST_CASE("StoreOptions::Validate accepts every field at the ends of its range",
          "[store][options]") {
  constexpr uint64_t kMiB = 1u << 20, kGiB = 1u << 30;
  CheckAccepted([](StoreOptions& o) { o.key_bytes_max = 1; });
  CheckAccepted([](StoreOptions& o) { o.key_bytes_max = 65535; });
  CheckAccepted([](StoreOptions& o) { o.value_bytes_max = 0; });
  CheckAccepted([](StoreOptions& o) {
    o.value_bytes_max = 256 * kMiB;
    o.batch_bytes_max = 512 * kMiB;
  });
  CheckAccepted([](StoreOptions& o) { o.batch_ops_max = 1; });
  CheckAccepted(
      [](StoreOptions& o) { o.batch_bytes_max = uint64_t{o.key_bytes_max} + o.value_bytes_max; });
  CheckAccepted([](StoreOptions& o) { o.batch_ops_max = UINT32_MAX; });
  CheckAccepted([](StoreOptions& o) {
    o.sync_policy = SyncPolicy::kInterval;
    o.sync_interval_ms = 1;
  });
  // Ignored, so not refused, under the other policies.
  CheckAccepted([](StoreOptions& o) { o.sync_interval_ms = 0; });
  CheckAccepted([](StoreOptions& o) { o.wal_write_buffer_bytes = 0; });
  CheckAccepted([](StoreOptions& o) { o.wal_write_buffer_bytes = kGiB; });
  CheckAccepted([](StoreOptions& o) { o.wal_segment_bytes_max = 4096; });
  CheckAccepted([](StoreOptions& o) { o.wal_preallocate_bytes = 0; });
  CheckAccepted([](StoreOptions& o) { o.wal_retention_bytes = UINT64_MAX; });
  CheckAccepted([](StoreOptions& o) { o.data_segment_bytes_max = 4096; });
  CheckAccepted([](StoreOptions& o) { o.cache_bytes_max = 0; });
  CheckAccepted([](StoreOptions& o) { o.checkpoint_wal_bytes = 1; });
  CheckAccepted([](StoreOptions& o) { o.compaction_garbage_ratio = 1.0; });
  CheckAccepted([](StoreOptions& o) { o.compaction_garbage_ratio = 1e-9; });
}

// Each limit alone is in range, but a batch of batch_bytes_max one-byte
// deletes would make a WAL record (9 bytes of framing each) or a run of data
// records (21 bytes of header each) longer than 32 bits can say.
TEST_CASE("StoreOptions::Validate refuses batch limits whose records would overflow",
          "[store][options]") {
  constexpr uint64_t kMiB = 1u << 20;
  // WAL: 4 + 9 * 512 Mi + 512 Mi = 5 GiB.
  CheckRefused("batch_ops_max", [](StoreOptions& o) {
    o.batch_bytes_max = 512 * kMiB;
    o.batch_ops_max = UINT32_MAX;
  });
  // WAL: 10 * 160 Mi = 1.6 GiB; data records: 22 * 160 Mi = 3.4 GiB. Both fit.
  CheckAccepted([](StoreOptions& o) {
    o.batch_bytes_max = 160 * kMiB;
    o.batch_ops_max = UINT32_MAX;
  });
  // WAL: 2 GiB, but data records: 22 * 200 Mi = 4.3 GiB.
  CheckRefused("batch_ops_max", [](StoreOptions& o) {
    o.batch_bytes_max = 200 * kMiB;
    o.batch_ops_max = UINT32_MAX;
  });
  // The same byte budget with fewer operations fits.
  CheckAccepted([](StoreOptions& o) {
    o.batch_bytes_max = 512 * kMiB;
    o.batch_ops_max = 100000000;
  });
}

// A record larger than data_segment_bytes_max is not refused: it is written
// into a segment of its own.
TEST_CASE("A value larger than a data segment gets a segment of its own", "[store][options]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.data_segment_bytes_max = 4096;
  auto store = OpenOrDie(options);
  const std::string big(3 * 4096, 'b');
  REQUIRE(store->Put({}, "small", "s").ok());
  REQUIRE(store->Put({}, "big", big).ok());
  REQUIRE(store->Put({}, "after", "a").ok());
  CHECK(store->GetStats().data_segments == 3);
  REQUIRE(store->Put({}, "big", "replaced").ok());
  REQUIRE(store->Compact(/*force=*/true).ok());
  store.reset();
  store = OpenOrDie(options);
  CHECK(*store->Get("big") == "replaced");
  CHECK(*store->Get("small") == "s");
  CHECK(*store->Get("after") == "a");
  REQUIRE(store->Put({}, "big2", big).ok());
  store.reset();
  store = OpenOrDie(options);
  CHECK(*store->Get("big2") == big);
}

}  // namespace
}  // namespace toydb
