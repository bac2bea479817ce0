// Status propagation helpers, implementation-only (not part of the public
// headers). Debian 12's Abseil (20220623) has no public status macros; newer
// Abseil releases ship ABSL_RETURN_IF_ERROR and ABSL_ASSIGN_OR_RETURN with the
// same meaning, so moving to them is a rename of the LINKD_ prefix.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LINKD_CONCAT_INNER_(a, b) a##b
#define LINKD_CONCAT_(a, b) LINKD_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define LINKD_RETURN_IF_ERROR(expr)                \
  do {                                             \
    const ::absl::Status linkd_status_ = (expr);   \
    if (!linkd_status_.ok()) return linkd_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise moves the value into `lhs`.
#define LINKD_ASSIGN_OR_RETURN(lhs, rexpr) \
  LINKD_ASSIGN_OR_RETURN_IMPL_(LINKD_CONCAT_(linkd_statusor_, __LINE__), lhs, rexpr)

#define LINKD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return statusor.status();            \
  lhs = std::move(statusor).value()
