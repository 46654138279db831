//! Task definition revisions, listing, deregistration and deletion, and
//! resource tags, through the real aws-sdk-ecs client.

mod common;

use aws_sdk_ecs::types::{
    ContainerDefinition, SortOrder, Tag, TaskDefinitionFamilyStatus, TaskDefinitionField,
    TaskDefinitionStatus,
};
use common::{ecs, start_fast};

#[tokio::test]
async fn revisions_listing_and_deletion() {
    let h = start_fast().await;
    let ecs = ecs(&h);
    let mut arns = vec![];
    for image in ["nginx:1", "nginx:2", "nginx:3"] {
        let out = ecs
            .register_task_definition()
            .family("web")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image(image)
                    .build(),
            )
            .tags(Tag::builder().key("berth.dev/hash").value(image).build())
            .send()
            .await
            .unwrap();
        assert_eq!(out.tags().len(), 1);
        arns.push(
            out.task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap()
                .to_string(),
        );
    }
    ecs.register_task_definition()
        .family("webhook")
        .memory("512")
        .container_definitions(ContainerDefinition::builder().name("h").image("x").build())
        .send()
        .await
        .unwrap();

    // A bare family resolves to the latest ACTIVE revision; TAGS on request.
    let d = ecs
        .describe_task_definition()
        .task_definition("web")
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    assert_eq!(d.task_definition().unwrap().revision(), 3);
    assert_eq!(d.tags()[0].value(), Some("nginx:3"));
    let c = &d.task_definition().unwrap().container_definitions()[0];
    assert_eq!(c.essential(), Some(true));

    // familyPrefix is the exact family, as in ECS.
    let listed = ecs
        .list_task_definitions()
        .family_prefix("web")
        .sort(SortOrder::Desc)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.task_definition_arns(),
        [arns[2].clone(), arns[1].clone(), arns[0].clone()]
    );

    let dereg = ecs
        .deregister_task_definition()
        .task_definition("web:1")
        .send()
        .await
        .unwrap();
    let td = dereg.task_definition().unwrap();
    assert_eq!(td.status(), Some(&TaskDefinitionStatus::Inactive));
    assert!(td.deregistered_at().is_some());
    let inactive = ecs
        .list_task_definitions()
        .family_prefix("web")
        .status(TaskDefinitionStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(inactive.task_definition_arns(), [arns[0].clone()]);

    let deleted = ecs
        .delete_task_definitions()
        .task_definitions(&arns[0])
        .task_definitions(&arns[1])
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.task_definitions()[0].status(),
        Some(&TaskDefinitionStatus::DeleteInProgress)
    );
    assert_eq!(deleted.failures().len(), 1, "web:2 is still ACTIVE");

    let families = ecs
        .list_task_definition_families()
        .family_prefix("web")
        .status(TaskDefinitionFamilyStatus::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(families.families(), ["web", "webhook"]);
}

#[tokio::test]
async fn tags_on_clusters_services_and_task_definitions() {
    let h = start_fast().await;
    let ecs = ecs(&h);
    let cluster = ecs
        .create_cluster()
        .cluster_name("tagged")
        .tags(Tag::builder().key("team").value("a").build())
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .cluster_arn
        .unwrap();
    ecs.tag_resource()
        .resource_arn(&cluster)
        .tags(Tag::builder().key("team").value("b").build())
        .tags(Tag::builder().key("env").value("prod").build())
        .send()
        .await
        .unwrap();
    ecs.untag_resource()
        .resource_arn(&cluster)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(&cluster)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].value(), Some("b"));

    let td = ecs
        .register_task_definition()
        .family("t")
        .memory("256")
        .container_definitions(
            ContainerDefinition::builder()
                .name("t")
                .image("nginx")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    ecs.tag_resource()
        .resource_arn(&td)
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap();
    let svc = ecs
        .create_service()
        .cluster("tagged")
        .service_name("s")
        .task_definition(&td)
        .desired_count(0)
        .tags(Tag::builder().key("owner").value("berth").build())
        .send()
        .await
        .unwrap()
        .service
        .unwrap();
    let svc_tags = ecs
        .list_tags_for_resource()
        .resource_arn(svc.service_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(svc_tags.tags()[0].key(), Some("owner"));
    let td_tags = ecs
        .list_tags_for_resource()
        .resource_arn(&td)
        .send()
        .await
        .unwrap();
    assert_eq!(td_tags.tags()[0].key(), Some("k"));
}
