#include "src/storage/datalog/background_writer.h"

#include <utility>

namespace toydb {

BackgroundWriter::BackgroundWriter() : thread_([this] { Run(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_cv_.Signal();
  thread_.join();
}

void BackgroundWriter::Submit(std::function<void()> job) {
  {
    MutexLock lock(&mu_);
    jobs_.push_back(std::move(job));
  }
  work_cv_.Signal();
}

void BackgroundWriter::Run() {
  MutexLock lock(&mu_);
  for (;;) {
    while (jobs_.empty() && !stopping_) work_cv_.Wait(&mu_);
    if (jobs_.empty()) return;  // Stopping, and every job has run.
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    mu_.Unlock();
    job();
    mu_.Lock();
  }
}

}  // namespace toydb
