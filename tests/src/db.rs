//! A database per test on the machine's Postgres, dropped at the end.

use tokio_postgres::NoTls;

/// Base URL of the shared test server (override with SHELLGATE_TEST_PG).
pub fn server_url() -> String {
    std::env::var("SHELLGATE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    server: String,
}

async fn admin_client(server: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&format!("{server}/postgres"), NoTls)
        .await
        .expect("connect to the test Postgres server");
    tokio::spawn(conn);
    client
}

impl TestDb {
    /// A fresh, empty database (migrations are run by `shellgate up` / `migrate`).
    pub async fn create() -> Self {
        Self::create_on(&server_url()).await
    }

    pub async fn create_on(server: &str) -> Self {
        let client = admin_client(server).await;
        sweep(&client).await;
        let name = format!(
            "sgt_{}_{}",
            crate::now_secs(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        Self {
            url: format!("{server}/{name}"),
            name,
            server: server.to_string(),
        }
    }

    /// Runs a query returning rows, on this test's database.
    pub async fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect test db");
        tokio::spawn(conn);
        client.query(sql, &[]).await.expect("query")
    }
}

async fn sweep(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query("SELECT datname FROM pg_database WHERE datname LIKE 'sgt\\_%'", &[])
        .await
    else {
        return;
    };
    let now = crate::now_secs();
    for row in rows {
        let name: String = row.get(0);
        let stale = name
            .split('_')
            .nth(1)
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| now.saturating_sub(t) > crate::STALE_AFTER_SECS);
        if stale {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        crate::block_on_thread(async move {
            if let Ok((client, conn)) = tokio_postgres::connect(&format!("{server}/postgres"), NoTls).await {
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        });
    }
}
