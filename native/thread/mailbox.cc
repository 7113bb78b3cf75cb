#include "mailbox.h"

namespace nlws {

void CommandQueue::Push(Command&& c) {
  std::lock_guard<std::mutex> lock(mutex_);
  items_.push_back(std::move(c));
}

void CommandQueue::PushMany(std::vector<Command>&& cs) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& c : cs) items_.push_back(std::move(c));
}

void CommandQueue::TakeAll(std::vector<Command>& out) {
  out.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  out.swap(items_);
}

}  // namespace nlws
