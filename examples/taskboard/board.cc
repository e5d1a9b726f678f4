#include "examples/taskboard/board.h"

#include "absl/strings/str_cat.h"

namespace lattice::examples {
namespace {

absl::StatusOr<crdt::ContainerId> FindTask(crdt::Doc& doc,
                                           const std::string& id) {
  auto task = doc.MapGetContainer(crdt::kRootId, id);
  if (!task.ok()) return absl::NotFoundError(absl::StrCat("no task ", id));
  return task;
}

std::string GetString(const crdt::Doc& doc, crdt::ContainerId map,
                      const std::string& key) {
  auto v = doc.MapGet(map, key);
  if (!v.ok() || v->kind() != crdt::Value::Kind::kString) return "";
  return v->as_string();
}

}  // namespace

absl::Status AddTask(crdt::Doc& doc, const std::string& id,
                     const std::string& title) {
  if (doc.MapGetContainer(crdt::kRootId, id).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("task ", id, " exists"));
  }
  auto task = doc.MapSetContainer(crdt::kRootId, id, crdt::ContainerType::kMap);
  if (!task.ok()) return task.status();
  if (auto s = doc.MapSet(*task, "title", crdt::Value::String(title));
      !s.ok()) {
    return s;
  }
  return doc.MapSet(*task, "column", crdt::Value::String("todo"));
}

absl::Status MoveTask(crdt::Doc& doc, const std::string& id,
                      const std::string& column) {
  auto task = FindTask(doc, id);
  if (!task.ok()) return task.status();
  return doc.MapSet(*task, "column", crdt::Value::String(column));
}

absl::Status AssignTask(crdt::Doc& doc, const std::string& id,
                        const std::string& user) {
  auto task = FindTask(doc, id);
  if (!task.ok()) return task.status();
  return doc.MapSet(*task, "assignee", crdt::Value::String(user));
}

absl::Status CompleteTask(crdt::Doc& doc, const std::string& id) {
  auto task = FindTask(doc, id);
  if (!task.ok()) return task.status();
  if (auto s = doc.MapSet(*task, "done", crdt::Value::Bool(true)); !s.ok()) {
    return s;
  }
  return doc.MapSet(*task, "column", crdt::Value::String("done"));
}

std::vector<Task> ReadTasks(const crdt::Doc& doc) {
  std::vector<Task> tasks;
  auto ids = doc.MapKeys(crdt::kRootId);
  if (!ids.ok()) return tasks;
  for (const std::string& id : *ids) {
    auto map = doc.MapGetContainer(crdt::kRootId, id);
    if (!map.ok()) continue;
    Task t;
    t.id = id;
    t.title = GetString(doc, *map, "title");
    t.column = GetString(doc, *map, "column");
    t.assignee = GetString(doc, *map, "assignee");
    auto done = doc.MapGet(*map, "done");
    t.done = done.ok() && done->kind() == crdt::Value::Kind::kBool &&
             done->as_bool();
    tasks.push_back(std::move(t));
  }
  return tasks;
}

std::string Render(const std::vector<Task>& tasks) {
  std::string out;
  std::vector<std::string> columns = Columns();
  for (const Task& t : tasks) {
    bool known = false;
    for (const auto& c : columns) known |= c == t.column;
    if (!known) columns.push_back(t.column);
  }
  for (const std::string& column : columns) {
    absl::StrAppend(&out, "== ", column, "\n");
    for (const Task& t : tasks) {
      if (t.column != column) continue;
      absl::StrAppend(&out, "  [", t.done ? "x" : " ", "] ", t.id, ": ",
                      t.title, t.assignee.empty() ? "" : " @", t.assignee,
                      "\n");
    }
  }
  return out;
}

}  // namespace lattice::examples
