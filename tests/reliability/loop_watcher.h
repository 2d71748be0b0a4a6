// Watches a reliability target running with -loop: every result block it
// prints ("iter N", the block, "done") must equal the block of an untraced
// run, whatever goscope does to the process meanwhile; and it answers "rate".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child.h"

namespace goscope::reliability {

class LoopWatcher {
 public:
  // program: started with -loop, ready line already read.
  LoopWatcher(testing::Child& program, std::string expected_block)
      : program_(program), expected_(std::move(expected_block)) {}

  // Consumes what the program printed so far (waiting up to wait_ms for the
  // first line) and checks each complete block.
  void Pump(int wait_ms = 0) {
    int wait = wait_ms;
    while (auto line = program_.NextLine(testing::kStdout, wait)) {
      wait = 0;
      Take(*line);
    }
  }

  // Pumps for ms milliseconds.
  void PumpFor(int ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      Pump(static_cast<int>(std::max<long long>(1, std::min<long long>(left.count(), 50))));
    }
  }

  // Waits until `count` blocks have been checked in total; false on timeout.
  bool WaitForBlocks(int count, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (blocks_ < count) {
      if (std::chrono::steady_clock::now() > end || program_.Exited()) return false;
      Pump(50);
    }
    return true;
  }

  // Asks the program for runtime.MemProfileRate.
  std::optional<long long> Rate(int timeout_ms = 30000) {
    rate_.reset();
    if (!program_.WriteLine("rate")) return std::nullopt;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!rate_ && std::chrono::steady_clock::now() < end && !program_.Exited()) Pump(50);
    return rate_;
  }

  int blocks() const { return blocks_; }  // complete blocks checked, good or bad
  int good_blocks() const { return good_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  void Take(const std::string& line) {
    if (line.rfind("rate ", 0) == 0) {
      rate_ = std::stoll(line.substr(5));
      return;
    }
    if (line.rfind("iter ", 0) == 0) {
      if (in_block_) errors_.push_back("block " + std::to_string(iter_) + " cut short by '" + line + "'");
      int n = std::stoi(line.substr(5));
      if (n != iter_ + 1) errors_.push_back("iteration " + std::to_string(n) + " after " + std::to_string(iter_));
      iter_ = n;
      block_.clear();
      in_block_ = true;
      return;
    }
    if (!in_block_) {
      errors_.push_back("unexpected line outside a block: '" + line + "'");
      return;
    }
    block_ += line + "\n";
    if (line == "done") {
      in_block_ = false;
      blocks_++;
      if (block_ == expected_)
        good_++;
      else
        errors_.push_back("block " + std::to_string(iter_) + " differs:\n" + block_ + "expected:\n" + expected_);
    }
  }

  testing::Child& program_;
  std::string expected_;
  std::string block_;
  bool in_block_ = false;
  int iter_ = 0;
  int blocks_ = 0;
  int good_ = 0;
  std::optional<long long> rate_;
  std::vector<std::string> errors_;
};

}  // namespace goscope::reliability
