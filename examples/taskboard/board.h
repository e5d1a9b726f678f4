// The task board's document model on top of a crdt::Doc, kept apart from
// the console so that it reads as an example of modelling with the CRDT:
// document "tasks" is a map from task id to a map {title, column,
// assignee, done}. One map per task lets concurrent edits of different
// fields (one user moves a task, another assigns it) both survive; edits
// of the same field resolve last-writer-wins.
//
// Thread safety: functions on a crdt::Doc run inside Room::Edit / Read,
// which serialise them.
#ifndef LATTICE_EXAMPLES_TASKBOARD_BOARD_H_
#define LATTICE_EXAMPLES_TASKBOARD_BOARD_H_

#include <string>
#include <vector>

#include "crdt/doc.h"

#include "absl/status/status.h"

namespace lattice::examples {

inline constexpr char kTasksDoc[] = "tasks";
// The columns, in display order; a task may name any column.
inline const std::vector<std::string>& Columns() {
  static const auto* columns =
      new std::vector<std::string>{"todo", "doing", "done"};
  return *columns;
}

struct Task {
  std::string id;
  std::string title;
  std::string column;
  std::string assignee;
  bool done = false;
};

// Creates task `id` in column "todo". Errors: AlreadyExists.
absl::Status AddTask(crdt::Doc& doc, const std::string& id,
                     const std::string& title);
// Sets one field of an existing task. Errors: NotFound.
absl::Status MoveTask(crdt::Doc& doc, const std::string& id,
                      const std::string& column);
absl::Status AssignTask(crdt::Doc& doc, const std::string& id,
                        const std::string& user);
// Marks done and moves to "done".
absl::Status CompleteTask(crdt::Doc& doc, const std::string& id);

// Every task, by id.
std::vector<Task> ReadTasks(const crdt::Doc& doc);
// The board as text, one section per column.
std::string Render(const std::vector<Task>& tasks);

}  // namespace lattice::examples

#endif  // LATTICE_EXAMPLES_TASKBOARD_BOARD_H_
