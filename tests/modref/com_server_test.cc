// Tests for <modref/com_server.h>: the DllCanUnloadNow vote counts counted_com_object members,
// balanced LockServer calls and modref's own work (a real modref::thread) in one count, and an
// unbalanced LockServer(FALSE) is refused without changing anything. The COM runtime driving a
// real server is covered by examples/com_server and the race lab's com_server_unloaded_by_com row.
#include <modref/com_server.h>
#include <modref/thread.h>

#include <windows.h>

#include <optional>
#include <vector>

#include <gtest/gtest.h>

namespace {

// Bound for the worker rendezvous: Wine starts threads through wineserver, slowly on a busy
// machine.
constexpr DWORD kBoundMs = 15000;

struct fake_object {
  modref::counted_com_object counted;
};

TEST(ComServer, NothingAliveMeansUnloadable) {
  EXPECT_EQ(modref::dll_can_unload_now(), S_OK);
  EXPECT_EQ(modref::com_server_activity().objects, 0);
  EXPECT_EQ(modref::com_server_activity().locks, 0);
}

TEST(ComServer, ObjectsCountWhileTheyLive) {
  std::optional<fake_object> first(std::in_place);
  EXPECT_EQ(modref::dll_can_unload_now(), S_FALSE);
  EXPECT_EQ(modref::com_server_activity().objects, 1);
  {
    fake_object copy = *first;  // a copy is another object
    EXPECT_EQ(modref::com_server_activity().objects, 2);
    copy = *first;  // assignment changes neither object's existence
    EXPECT_EQ(modref::com_server_activity().objects, 2);
  }
  EXPECT_EQ(modref::com_server_activity().objects, 1);
  first.reset();
  EXPECT_EQ(modref::com_server_activity().objects, 0);
  EXPECT_EQ(modref::dll_can_unload_now(), S_OK);
}

TEST(ComServer, ObjectsShareTheCountOfModrefContexts) {
  const long before = modref::activity().live_contexts;
  std::vector<fake_object> objects(3);
  EXPECT_EQ(modref::activity().live_contexts, before + 3)
      << "one counter for objects and work is what makes the vote consistent";
  objects.clear();
  EXPECT_EQ(modref::activity().live_contexts, before);
}

TEST(ComServer, LockServerKeepsTheServerUntilBalanced) {
  EXPECT_EQ(modref::com_lock_server(TRUE), S_OK);
  EXPECT_EQ(modref::com_lock_server(TRUE), S_OK);
  EXPECT_EQ(modref::com_server_activity().locks, 2);
  EXPECT_EQ(modref::dll_can_unload_now(), S_FALSE);
  EXPECT_EQ(modref::com_lock_server(FALSE), S_OK);
  EXPECT_EQ(modref::dll_can_unload_now(), S_FALSE);
  EXPECT_EQ(modref::com_lock_server(FALSE), S_OK);
  EXPECT_EQ(modref::dll_can_unload_now(), S_OK);
}

TEST(ComServer, UnbalancedUnlockIsRefusedAndChangesNothing) {
  const long contexts = modref::activity().live_contexts;
  EXPECT_EQ(modref::com_lock_server(FALSE), E_UNEXPECTED);
  EXPECT_EQ(modref::com_server_activity().locks, 0);
  EXPECT_EQ(modref::activity().live_contexts, contexts) << "the vote must not go below zero";
  EXPECT_EQ(modref::dll_can_unload_now(), S_OK);
  // And a later balanced pair still works.
  EXPECT_EQ(modref::com_lock_server(TRUE), S_OK);
  EXPECT_EQ(modref::dll_can_unload_now(), S_FALSE);
  EXPECT_EQ(modref::com_lock_server(FALSE), S_OK);
  EXPECT_EQ(modref::dll_can_unload_now(), S_OK);
}

TEST(ComServer, RunningWorkKeepsTheServerAfterTheLastObjectIsGone) {
  HANDLE go = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  HANDLE running = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ASSERT_NE(go, nullptr);
  ASSERT_NE(running, nullptr);
  std::optional<modref::thread> worker;
  {
    fake_object object;  // the object whose method starts the work
    absl::StatusOr<modref::thread> started = modref::thread::start([go, running] {
      ::SetEvent(running);
      ::WaitForSingleObject(go, kBoundMs);
    });
    ASSERT_TRUE(started.ok()) << started.status();
    worker.emplace(*std::move(started));
  }  // the client released its last object
  ASSERT_EQ(::WaitForSingleObject(running, kBoundMs), WAIT_OBJECT_0);
  EXPECT_EQ(modref::com_server_activity().objects, 0);
  EXPECT_EQ(modref::dll_can_unload_now(), S_FALSE) << "the worker's context is counted";
  ::SetEvent(go);
  worker->join();  // the context is destroyed before the thread ends
  EXPECT_EQ(modref::dll_can_unload_now(), S_OK);
  ::CloseHandle(go);
  ::CloseHandle(running);
}

}  // namespace
