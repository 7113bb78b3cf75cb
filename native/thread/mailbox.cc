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

void Mailbox::Post(Command&& c) {
  queue_.Push(std::move(c));
  Posted(true);
}

void Mailbox::PostMany(std::vector<Command>&& cs, bool wake) {
  if (cs.empty()) return;
  queue_.PushMany(std::move(cs));
  Posted(wake);
}

void Mailbox::Posted(bool wake) {
  if (!wake) return;
  wanted_.store(true);
  if (!spinning_.load()) Wake();
}

void Mailbox::Wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (context_) lws_cancel_service(context_);
}

void Mailbox::Open(struct lws_context* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = ctx;
}

void Mailbox::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = nullptr;
}

}  // namespace nlws
