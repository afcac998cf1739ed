//! The shape of `src/` (docs/architecture.md), read as Rust with `syn`:
//!
//! - stages import only earlier stages: `src/lib.rs` lists the modules in stage order, and
//!   no module names a module below it (`crate::x` anywhere, in `use` trees and inside
//!   macro calls alike);
//! - no function is longer than `MAX_LINES` unless its doc comment says it is a flat table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

use super::root;

/// The longest function `src/` may hold, from `fn` to its closing brace.
const MAX_LINES: usize = 80;
/// What a function's doc comment says when its length is a table, one row per line.
const TABLE_MARK: &str = "flat table";

/// The modules of `src/lib.rs`, in the order it declares them.
fn stage_order(lib: &str) -> Vec<String> {
    let file = syn::parse_file(lib).expect("src/lib.rs parses");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(module) if module.content.is_none() => Some(module.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The top-level module a file of `src/` belongs to (`emit` for `src/emit/queue.rs`).
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().expect("a path below src");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The modules a file names through `crate::`, with the line of each first mention.
#[derive(Default)]
struct CrateUses {
    found: BTreeMap<String, usize>,
}

impl CrateUses {
    fn note(&mut self, module: String, line: usize) {
        self.found.entry(module).or_insert(line);
    }

    fn tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, token) in tokens.iter().enumerate() {
            match token {
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Ident(ident) if ident == "crate" => {
                    let colons = tokens.get(i + 1..i + 3).is_some_and(|t| {
                        t.iter()
                            .all(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ':'))
                    });
                    if let (true, Some(TokenTree::Ident(next))) = (colons, tokens.get(i + 3)) {
                        self.note(next.to_string(), ident.span().start().line);
                    }
                }
                _ => {}
            }
        }
    }

    fn use_tree(&mut self, tree: &syn::UseTree, under_crate: bool) {
        match tree {
            syn::UseTree::Path(path) if !under_crate && path.ident == "crate" => {
                self.use_tree(&path.tree, true);
            }
            syn::UseTree::Path(_) if !under_crate => {}
            syn::UseTree::Path(path) => {
                self.note(path.ident.to_string(), path.ident.span().start().line)
            }
            syn::UseTree::Name(name) if under_crate => {
                self.note(name.ident.to_string(), name.ident.span().start().line);
            }
            syn::UseTree::Rename(rename) if under_crate => {
                self.note(rename.ident.to_string(), rename.ident.span().start().line);
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(tree, under_crate);
                }
            }
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for CrateUses {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let mut segments = path.segments.iter();
        if let (Some(first), Some(second)) = (segments.next(), segments.next()) {
            if first.ident == "crate" {
                self.note(second.ident.to_string(), first.ident.span().start().line);
            }
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&item.tree, false);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// Each `crate::` use of `source` (a file of module `module`) that names a module which is
/// not above `module` in `order`: (line, what is wrong).
fn later_stages(module: &str, source: &str, order: &[String]) -> Vec<(usize, String)> {
    let file = syn::parse_file(source).expect("source parses");
    let mut uses = CrateUses::default();
    uses.visit_file(&file);
    let rank = |m: &str| order.iter().position(|o| o == m);
    let Some(own) = rank(module) else {
        return vec![(
            1,
            format!("module `{module}` is not declared in src/lib.rs"),
        )];
    };
    let mut wrong = Vec::new();
    for (used, line) in uses.found {
        match rank(&used) {
            Some(at) if at < own || used == module => {}
            Some(_) => wrong.push((
                line,
                format!(
                    "`{module}` uses `crate::{used}`, a later stage (src/lib.rs lists the order)"
                ),
            )),
            // A crate-root item (`crate::parallel_map`), which every module may use.
            None if !order.contains(&used)
                && used.chars().next().is_some_and(char::is_lowercase) => {}
            None => wrong.push((
                line,
                format!("`crate::{used}` is not a module of src/lib.rs"),
            )),
        }
    }
    wrong
}

#[test]
fn stages_import_only_earlier_stages() {
    let src = root().join("src");
    let order = stage_order(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    assert!(order.len() > 10, "{order:?}");
    let mut problems = Vec::new();
    for path in sources(&src) {
        let relative = path.strip_prefix(&src).expect("below src");
        if relative == Path::new("lib.rs") || relative == Path::new("main.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("source");
        for (line, why) in later_stages(&module_of(relative), &source, &order) {
            problems.push(format!("src/{}:{line}: {why}", relative.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself: a use of a later stage is found in a `use` tree, a path and a macro.
#[test]
fn a_later_stage_is_found_wherever_it_is_named() {
    let order: Vec<String> = ["diag", "load", "model", "cli"].map(String::from).to_vec();
    for source in [
        "use crate::{diag::Code, cli::main};",
        "fn f() { crate::cli::main(); }",
        "fn f() -> String { format!(\"{}\", crate::cli::VERSION) }",
        "use crate::cli;",
    ] {
        let found = later_stages("load", source, &order);
        assert_eq!(found.len(), 1, "{source}: {found:?}");
        assert!(found[0].1.contains("crate::cli"), "{found:?}");
    }
    assert!(later_stages("model", "use crate::{diag, load::Node};", &order).is_empty());
    assert!(later_stages("load", "use crate::parallel_map;", &order).is_empty());
}

/// Functions of a file longer than `MAX_LINES`, except flat tables: (name, line, length).
#[derive(Default)]
struct LongFunctions {
    found: Vec<(String, usize, usize)>,
}

impl LongFunctions {
    fn measure(&mut self, attrs: &[syn::Attribute], sig: &syn::Signature, block: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        let length = end - start + 1;
        let table = attrs.iter().any(|attr| {
            attr.path().is_ident("doc") && quote_text(attr).to_lowercase().contains(TABLE_MARK)
        });
        if length > MAX_LINES && !table {
            self.found.push((sig.ident.to_string(), start, length));
        }
    }
}

fn quote_text(attr: &syn::Attribute) -> String {
    match &attr.meta {
        syn::Meta::NameValue(value) => match &value.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => text.value(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

impl<'ast> Visit<'ast> for LongFunctions {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.measure(&item.attrs, &item.sig, &item.block);
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.measure(&item.attrs, &item.sig, &item.block);
        syn::visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.measure(&item.attrs, &item.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

fn long_functions(source: &str) -> Vec<(String, usize, usize)> {
    let file = syn::parse_file(source).expect("source parses");
    let mut long = LongFunctions::default();
    long.visit_file(&file);
    long.found
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let src = root().join("src");
    let mut problems = Vec::new();
    for path in sources(&src) {
        let source = std::fs::read_to_string(&path).expect("source");
        for (name, line, length) in long_functions(&source) {
            problems.push(format!(
                "src/{}:{line}: fn {name} is {length} lines (at most {MAX_LINES}, unless its doc comment says it is a {TABLE_MARK})",
                path.strip_prefix(&src).expect("below src").display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself: a long function is found, in an impl too, unless it is a table.
#[test]
fn a_long_function_is_found_unless_it_is_a_table() {
    let body = "    let x = 1;\n".repeat(MAX_LINES);
    let long = format!("fn long() {{\n{body}}}\n");
    assert_eq!(
        long_functions(&long),
        vec![("long".into(), 1, MAX_LINES + 2)]
    );
    let method = format!("struct S;\nimpl S {{\n    fn long(&self) {{\n{body}    }}\n}}\n");
    assert_eq!(long_functions(&method).len(), 1);
    let table = format!("/// A flat table: one row per line.\n{long}");
    assert!(long_functions(&table).is_empty());
    let short = "fn short() {\n    let x = 1;\n}\n";
    assert!(long_functions(short).is_empty());
}
