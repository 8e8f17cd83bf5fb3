#ifndef TOYDB_STORAGE_DATALOG_BACKGROUND_WRITER_H_
#define TOYDB_STORAGE_DATALOG_BACKGROUND_WRITER_H_

// BackgroundWriter: one thread that runs submitted jobs in order; the store
// hands it the writes of full data-log buffers, so that the kernel's copy of
// 256 KiB into the page cache is not paid on the writer's thread. Owned by
// the store (only when it runs background threads); thread-safe. The
// destructor runs every job already submitted, then joins the thread.

#include <deque>
#include <functional>
#include <thread>

#include "src/util/mutex.h"

namespace toydb {

class BackgroundWriter {
 public:
  BackgroundWriter();
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void Submit(std::function<void()> job);

 private:
  void Run();

  Mutex mu_;
  CondVar work_cv_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: started once the members above exist.
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_DATALOG_BACKGROUND_WRITER_H_
