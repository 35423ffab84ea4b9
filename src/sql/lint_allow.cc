#include "sql/lint_allow.h"

#include <algorithm>
#include <string>

#include "sql/lint_rules.h"

namespace tidemark::sql {
namespace {

// `-- tidemark:allow RULE reason` lines in a statement's text (its leading comments).
std::vector<plan::LintAllow> Allows(const std::string& text) {
  static const std::string kMarker = "-- tidemark:allow";
  std::vector<plan::LintAllow> allows;
  for (size_t at = text.find(kMarker); at != std::string::npos;
       at = text.find(kMarker, at + kMarker.size())) {
    const size_t end = std::min(text.find('\n', at), text.size());
    std::string rest = text.substr(at + kMarker.size(), end - at - kMarker.size());
    auto trim = [](std::string s) {
      const size_t first = s.find_first_not_of(" \t\r");
      if (first == std::string::npos) return std::string();
      return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
    };
    rest = trim(rest);
    const size_t space = rest.find_first_of(" \t");
    plan::LintAllow allow;
    allow.rule = rest.substr(0, space);
    allow.reason = space == std::string::npos ? "" : trim(rest.substr(space));
    allows.push_back(std::move(allow));
  }
  return allows;
}

bool IsRule(const std::string& name) {
  for (const LintRule& rule : LintRules()) {
    if (name == rule.name) return true;
  }
  return false;
}

// Marks the findings of statement `index` that a `-- tidemark:allow` accepts; a malformed
// allow is itself a finding.
void ApplyCommentAllows(const plan::Step& step, const std::vector<plan::LintAllow>& allows,
                        int index, std::vector<plan::LintFinding>* findings) {
  for (const plan::LintAllow& allow : allows) {
    std::string problem;
    if (!IsRule(allow.rule)) {
      problem = "`-- tidemark:allow " + allow.rule + "` names no lint rule";
    } else if (allow.reason.empty()) {
      problem = "`-- tidemark:allow " + allow.rule + "` gives no reason";
    }
    if (!problem.empty()) {
      findings->push_back(Finding(step, kInvalidAllow, index, problem));
      continue;
    }
    for (plan::LintFinding& finding : *findings) {
      if (finding.statement_index != index || finding.rule != allow.rule) continue;
      if (!finding.accepted.empty()) continue;
      finding.accepted = allow.reason;
      finding.message += " (accepted: " + allow.reason + ")";
    }
  }
}

// Marks the step's findings that its lintAllow accepts (the decoder checked the entries'
// form); an entry naming no rule, or accepting no finding, is itself a finding.
void ApplyStepAllows(const plan::Step& step, std::vector<plan::LintFinding>* findings) {
  for (size_t i = 0; i < step.lint_allow.size(); ++i) {
    const plan::LintAllow& allow = step.lint_allow[i];
    const std::string where = "lintAllow[" + std::to_string(i) + "] (" + allow.rule + ")";
    if (!IsRule(allow.rule)) {
      findings->push_back(StepFinding(step, kInvalidAllow, where + " names no lint rule"));
      continue;
    }
    bool used = false;
    for (plan::LintFinding& finding : *findings) {
      if (finding.rule != allow.rule) continue;
      used = true;
      if (!finding.accepted.empty()) continue;
      finding.accepted = allow.reason;
      finding.message += " (accepted in lintAllow: " + allow.reason + ")";
    }
    if (!used) {
      findings->push_back(
          StepFinding(step, kInvalidAllow,
                      where + " accepts nothing: the step has no such finding; remove the entry"));
    }
  }
}

}  // namespace

void AcceptAllowedFindings(const plan::Step& step, const std::vector<Statement>& statements,
                           std::vector<plan::LintFinding>* findings) {
  for (size_t i = 0; i < statements.size(); ++i) {
    ApplyCommentAllows(step, Allows(statements[i].text), static_cast<int>(i), findings);
  }
  ApplyStepAllows(step, findings);
}

}  // namespace tidemark::sql
