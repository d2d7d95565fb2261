//! The route table: the router is built through [`Routes`], which records every path and
//! method it serves, so the OpenAPI document can be checked against what the router really
//! answers (`api::openapi`'s tests).

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use axum::Router;

use crate::api::AppState;

/// The handlers of one path, with the methods they answer.
pub(super) struct Methods {
    router: MethodRouter<AppState>,
    methods: Vec<Method>,
}

/// One path and method of the router (`GET` also answers `HEAD`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// The path, with `{name}` for a segment it captures.
    pub path: &'static str,
    /// The method.
    pub method: Method,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            /// A path answering this method with `handler`.
            pub(super) fn $name<H, T>(handler: H) -> Methods
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Methods {
                    router: routing::$name(handler),
                    methods: vec![Method::$method],
                }
            }
        )*

        impl Methods {
            $(
                /// Also answer this method with `handler`.
                #[allow(dead_code)] // not every pairing of methods is in use
                pub(super) fn $name<H, T>(mut self, handler: H) -> Self
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, delete => DELETE);

/// The router being built, and the table of what it serves.
pub(super) struct Routes {
    router: Router<AppState>,
    table: Vec<Route>,
}

impl Routes {
    pub(super) fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Serve `path` with `methods`.
    pub(super) fn route(mut self, path: &'static str, methods: Methods) -> Self {
        self.table.extend(
            methods
                .methods
                .into_iter()
                .map(|method| Route { path, method }),
        );
        self.router = self.router.route(path, methods.router);
        self
    }

    /// The router and the table of its routes.
    pub(super) fn into_parts(self) -> (Router<AppState>, Vec<Route>) {
        (self.router, self.table)
    }
}
