// A first-in first-out queue over one vector. std::deque allocates a map
// and a 512-byte block on construction, empty or not: a session and each of
// its connections held one, about 1.1 KB per idle connection. This
// allocates only once something is queued.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

namespace nlws {

template <typename T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  T& at(size_t i) { return items_[head_ + i]; }  // i < size()
  T& back() { return items_.back(); }
  void push_back(T&& v) { items_.push_back(std::move(v)); }
  void pop_back() {
    items_.pop_back();
    if (empty()) Reset();
  }
  void pop_front() {
    items_[head_] = T();
    if (++head_ == items_.size()) {
      Reset();
    } else if (head_ >= 1024 && head_ * 2 >= items_.size()) {
      // Never drained under steady load: drop the consumed part now and then.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  void Reset() {
    items_.clear();
    head_ = 0;
  }
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace nlws
