"""The check for misspelt LaunchDarkly actions (gateway/policy/actions.py): a name one letter from
a known action, or differing from one in case only, is a likely typo of it; every known action, a
pattern and a name two letters away are not."""

from __future__ import annotations

import pytest

from gateway.policy import PolicyError, compile_policy
from gateway.policy.actions import KNOWN_ACTIONS, likely_typo

# LaunchDarkly's role actions as its documentation ("Using actions") names them: the list the
# gateway must know, written out here apart from the code.
LAUNCHDARKLY_ACTIONS = (
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
    "createSegment", "deleteSegment", "updateIncluded", "updateExcluded",
    "createEnvironment", "deleteEnvironment", "updateColor", "updateApiKey", "updateMobileKey",
    "updateSecureMode", "updateTtl", "updateRequireComments", "updateConfirmChanges", "updateCritical",
    "createProject", "deleteProject", "updateProjectName", "viewProject", "createMetric", "deleteMetric",
    "updateMetricName", "updateEventKey",
)


def test_the_known_actions_are_launchdarklys():
    assert KNOWN_ACTIONS == frozenset(LAUNCHDARKLY_ACTIONS)


@pytest.mark.parametrize("action", LAUNCHDARKLY_ACTIONS)
def test_a_known_action_is_no_typo_and_in_another_case_is_a_typo_of_it(action):
    assert likely_typo(action) is None
    assert likely_typo(action.upper()) == action
    assert likely_typo(action.lower()) == (None if action.lower() == action else action)


@pytest.mark.parametrize("action, nearest", [
    ("updateOnn", "updateOn"),  # a letter more
    ("updatOn", "updateOn"),  # a letter less
    ("updateOm", "updateOn"),  # a letter changed
    ("pdateOn", "updateOn"),  # the first letter missing
    ("updateO", "updateOn"),  # the last letter missing
    ("xupdateOn", "updateOn"),  # a letter before
    ("UpdateON", "updateOn"),  # case only
    ("updateTTL", "updateTtl"),
    ("updateRule", "updateRules"),
    ("createFlg", "createFlag"),
    ("viewProjects", "viewProject"),
])
def test_a_name_one_letter_from_a_known_action_is_a_likely_typo_of_it(action, nearest):
    assert likely_typo(action) == nearest


@pytest.mark.parametrize("action", [
    "updateOff",  # two letters from updateOn: a new action must still be accepted
    "updateOnnn",  # two letters more
    "upateO",  # two letters less
    "xupdateOnx",
    "updateSomethingNew",
    "update*",  # a pattern
    "*Flag",
    "updateOn*",
])
def test_a_name_not_one_letter_from_a_known_action_is_no_typo(action):
    assert likely_typo(action) is None


def test_a_likely_typo_is_refused_in_a_policy_naming_the_action_it_resembles():
    statement = {"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["UPDATEON"]}
    with pytest.raises(PolicyError) as refused:
        compile_policy([statement])
    assert refused.value.errors == {
        "policy[0].actions[0]": 'unknown action "UPDATEON": did you mean "updateOn"? '
                                "(LaunchDarkly action names are case-sensitive)"}
    assert compile_policy([{**statement, "actions": ["updateOff"]}]) is not None
