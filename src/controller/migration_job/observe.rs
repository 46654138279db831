//! What a MigrationJob reconcile reads: the watch stores and memos up
//! front (no API or AWS call), then, one at a time, the AWS reads the plan
//! asks for (`plan::Need`).

use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::plan::{self, Need, Observed};
use crate::api::migration_job::{MigrationJob, MigrationJobStatus};
use crate::aws::ecs::tasks::{self, ToRun};
use crate::aws::tags::owner_of;
use crate::aws::Clients;
use crate::controller::context::{is_paused, Context, REFRESH_ANNOTATION};
use crate::controller::error::{Error, Result};
use crate::controller::pacing;
use crate::controller::shell::Target;

/// What the watch stores and this process's memos say about the job.
pub(super) fn observe(obj: &MigrationJob, ctx: &Context, prev: &MigrationJobStatus) -> Observed {
    let ns = obj.namespace().unwrap_or_default();
    let service = obj.spec.service_ref.as_ref().and_then(|r| {
        ctx.stores
            .services
            .get(&ObjectRef::new(&r.name).within(&ns))
    });
    let mut o = Observed::new(plan::resolve(obj, service.as_deref()), prev.clone());
    o.last_write = obj
        .metadata
        .uid
        .as_deref()
        .and_then(|uid| ctx.memos.jobs.get(uid).last_write);
    o.paused = is_paused(obj.annotations());
    o.refresh = obj.annotations().get(REFRESH_ANNOTATION).cloned();
    o.database = obj.spec.database_ref.as_ref().and_then(|r| {
        let db = ctx
            .stores
            .databases
            .get(&ObjectRef::new(&r.name).within(&ns));
        db.map(|db| db.as_ref().clone())
    });
    o
}

/// Makes the read the plan asked for, recording what it found in `o`.
pub(super) async fn read(
    obj: &MigrationJob,
    ctx: &Context,
    aws: &Target<'_>,
    o: &mut Observed,
    clients: &mut Option<Arc<Clients>>,
    need: Need,
) -> Result<()> {
    let Ok(target) = &o.target else {
        return Err(Error::Config(format!(
            "{need:?} asked for a job with nothing to run"
        )));
    };
    if need == Need::Aws {
        let roles = crate::api::roles::job_roles(obj, &target.task_definition);
        *clients = Some(aws.clients(&roles).await?);
        o.aws = true;
        return Ok(());
    }
    let Some(c) = clients.as_deref() else {
        return Err(Error::Config(format!("{need:?} asked for before Aws")));
    };
    let (cluster, container) = (&target.cluster, &target.container);
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    match need {
        Need::Aws => {}
        Need::PreviousTask(arn) => {
            o.previous_task = Some(tasks::task(c, cluster, &arn, container).await?);
        }
        Need::Task(arn) => o.task = Some(tasks::task(c, cluster, &arn, container).await?),
        Need::ToRun => {
            let to_run = tasks::task_definition(c, target, &owner_of(obj), &uid);
            let held = matches!(&to_run, ToRun::Rendered(r) if pacing::waiting(&ctx.memos.jobs, &uid, &r.hash));
            o.to_run = Some((to_run, held));
        }
        Need::RunTasks { started_by } => {
            o.run_tasks = Some(tasks::run_tasks(c, cluster, &started_by, container).await?);
        }
        Need::Found => {
            let Some((ToRun::Rendered(rendered), _)) = &o.to_run else {
                return Err(Error::Config("Found asked for without a rendering".into()));
            };
            o.found = Some(pacing::find(c, rendered).await?);
        }
        Need::LogTail {
            group,
            stream,
            lines,
        } => o.log_tail = Some(crate::aws::logs::log_tail(c, &group, &stream, lines).await),
    }
    Ok(())
}
