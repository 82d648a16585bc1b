use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::models::GuardRuleRow;
use crate::db::schema::guard_rules::dsl as g;
use crate::ids::TargetId;

/// Global rules (`target = None`) or one target's own rules.
pub async fn list_rules(conn: &mut AsyncPgConnection, target: Option<TargetId>) -> QueryResult<Vec<GuardRuleRow>> {
    let q = g::guard_rules.select(GuardRuleRow::as_select()).into_boxed();
    let q = match target {
        Some(t) => q.filter(g::target_id.eq(t)),
        None => q.filter(g::target_id.is_null()),
    };
    q.order(g::rule_id.asc()).load(conn).await
}

/// The rules that apply to a target: global ones first, then the target's (which override).
pub async fn rules_for_target(conn: &mut AsyncPgConnection, target: TargetId) -> QueryResult<Vec<GuardRuleRow>> {
    let mut rules = list_rules(conn, None).await?;
    rules.extend(list_rules(conn, Some(target)).await?);
    Ok(rules)
}

/// Adds or replaces the rule with this id (globally, or for one target).
pub async fn upsert_rule(
    conn: &mut AsyncPgConnection,
    target: Option<TargetId>,
    rule_id: &str,
    rule: &serde_json::Value,
) -> QueryResult<GuardRuleRow> {
    let now = OffsetDateTime::now_utc();
    let existing = {
        let q = g::guard_rules.filter(g::rule_id.eq(rule_id)).select(g::id).into_boxed();
        let q = match target {
            Some(t) => q.filter(g::target_id.eq(t)),
            None => q.filter(g::target_id.is_null()),
        };
        q.first::<uuid::Uuid>(conn).await.optional()?
    };
    match existing {
        Some(id) => {
            diesel::update(g::guard_rules.find(id))
                .set((g::rule.eq(rule), g::updated_at.eq(now)))
                .returning(GuardRuleRow::as_returning())
                .get_result(conn)
                .await
        }
        None => {
            diesel::insert_into(g::guard_rules)
                .values((
                    g::id.eq(uuid::Uuid::now_v7()),
                    g::target_id.eq(target),
                    g::rule_id.eq(rule_id),
                    g::rule.eq(rule),
                ))
                .returning(GuardRuleRow::as_returning())
                .get_result(conn)
                .await
        }
    }
}

pub async fn delete_rule(conn: &mut AsyncPgConnection, target: Option<TargetId>, rule_id: &str) -> QueryResult<bool> {
    let n = match target {
        Some(t) => {
            diesel::delete(g::guard_rules.filter(g::target_id.eq(t)).filter(g::rule_id.eq(rule_id)))
                .execute(conn)
                .await?
        }
        None => {
            diesel::delete(
                g::guard_rules
                    .filter(g::target_id.is_null())
                    .filter(g::rule_id.eq(rule_id)),
            )
            .execute(conn)
            .await?
        }
    };
    Ok(n > 0)
}
