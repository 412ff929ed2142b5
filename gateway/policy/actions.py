"""LaunchDarkly role actions the gateway knows by name, to catch a misspelt one in a policy.

An action in a policy need not be listed here: LaunchDarkly adds actions often, and a new one works
at once. What is refused is a name that is not listed but differs from a listed one by one letter,
or by case only (``updateOnn``, ``UpdateON``, ``updateRule``): almost surely a typo that would otherwise match
nothing, silently. The names are LaunchDarkly's, from its role documentation ("Using actions").
"""

from __future__ import annotations

KNOWN_ACTIONS = frozenset({
    # feature flags
    "applyApprovalRequest", "bypassRequiredApproval", "cloneFlag", "copyFlagConfigFrom", "copyFlagConfigTo",
    "createApprovalRequest", "createFlag", "createFlagLink", "createTriggers", "deleteApprovalRequest",
    "deleteFlag", "deleteFlagLink", "deleteTriggers", "manageFlagFollowers", "reviewApprovalRequest",
    "updateApprovalRequest", "updateAttachedGoals", "updateClientSideFlagAvailability", "updateDeprecated",
    "updateDescription", "updateExpiringRules", "updateExpiringTargets", "updateFallthrough",
    "updateFallthroughWithMeasuredRollout", "updateFeatureWorkflows", "updateFlagCustomProperties",
    "updateFlagDefaults", "updateFlagLink", "updateFlagSalt", "updateFlagVariations", "updateGlobalArchived",
    "updateIncludeInSnippet", "updateMaintainer", "updateMeasuredRolloutConfiguration", "updateName",
    "updateOffVariation", "updateOn", "updatePrerequisites", "updateReleasePhaseStatus", "updateRules",
    "updateRulesWithMeasuredRollout", "updateScheduledChanges", "updateTags", "updateTargets", "updateTemporary",
    "updateTrackEvents", "updateTriggers", "updateVariationJsonSchema",
    # segments, environments, projects, metrics
    "createSegment", "deleteSegment", "updateIncluded", "updateExcluded",
    "createEnvironment", "deleteEnvironment", "updateColor", "updateApiKey", "updateMobileKey",
    "updateSecureMode", "updateTtl", "updateRequireComments", "updateConfirmChanges", "updateCritical",
    "createProject", "deleteProject", "updateProjectName", "viewProject", "createMetric", "deleteMetric",
    "updateMetricName", "updateEventKey",
})

DISTANCE = 1
"""How many single-letter edits make a name a likely typo of a known action (a letter more, less or
changed; any difference of case only counts as a typo too). Kept at one: a new LaunchDarkly action
two letters from a known one must still be accepted."""
_BY_LOWER = {known.lower(): known for known in KNOWN_ACTIONS}


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance (insert, delete, replace, case counted as a change), stopping past ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def likely_typo(action: str) -> str | None:
    """The known action ``action`` is probably a misspelling of, or None (known, a pattern with
    ``*``, or not close to any known action)."""
    if "*" in action or action in KNOWN_ACTIONS or len(action) < 5:
        return None
    if action.lower() in _BY_LOWER:
        return _BY_LOWER[action.lower()]
    close = sorted((_distance(action, known, DISTANCE), known) for known in KNOWN_ACTIONS)
    distance, nearest = close[0]
    return nearest if distance <= DISTANCE else None
