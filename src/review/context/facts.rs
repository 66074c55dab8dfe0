//! What rules remember across a file's statements: facts taken in one
//! statement after another, and the small keyed stores they are made of.

use super::{Ctx, Stmt};
use crate::context::Engine;
use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a rule keeps about the statements of a file, so as never to look
/// back over every earlier statement for each one (a file of n statements
/// would cost n squared), nor at their parsed forms, which a review drops
/// once checked. Each fact takes in every statement, in file order and
/// parsed, after the rules have checked it ([`Ctx::stream`]), or all of
/// them before any check ([`Ctx::new`]); either way a question about the
/// statements before one must ignore what was taken in from it and after
/// it. Facts are registered, with the engines of the rules using them, in
/// `rules::FACTS`.
pub trait Fact: Any + Send + Sync {
    /// Takes in the next statement of the file.
    fn add(&mut self, ctx: &Ctx, stmt: &Stmt);
}

/// A fact some rule keeps, and the engines of the rules using it.
pub struct FactKind {
    pub engines: &'static [Engine],
    pub new: fn() -> Box<dyn Fact>,
}

/// A new, empty fact of type `T`: what a [`FactKind`] makes.
pub fn new_fact<T: Fact + Default>() -> Box<dyn Fact> {
    Box::new(T::default())
}

/// The facts kept for a review.
pub(super) struct Facts(pub(super) Vec<Slot>);

pub(super) struct Slot {
    pub(super) id: TypeId,
    // Read by the rules of several statements at once (see Ctx::stream).
    fact: RwLock<Box<dyn Fact>>,
}

impl Slot {
    // A rule that panicked while asking left the fact as it was.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Box<dyn Fact>> {
        self.fact.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Box<dyn Fact>> {
        self.fact.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Facts {
    pub(super) fn for_engine(engine: Engine) -> Facts {
        let kinds = super::super::rules::FACTS
            .iter()
            .filter(|f| f.engines.contains(&engine));
        Facts::of(kinds)
    }

    pub(super) fn of<'a>(kinds: impl IntoIterator<Item = &'a FactKind>) -> Facts {
        Facts(
            kinds
                .into_iter()
                .map(|f| {
                    let fact = (f.new)();
                    Slot {
                        id: (&*fact as &dyn Any).type_id(),
                        fact: RwLock::new(fact),
                    }
                })
                .collect(),
        )
    }
}

impl std::fmt::Debug for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Facts({})", self.0.len())
    }
}

/// A fact as it stands, read. Drop it before asking for the same fact
/// mutably.
pub struct FactRef<'a, T> {
    pub(super) guard: RwLockReadGuard<'a, Box<dyn Fact>>,
    pub(super) of: PhantomData<T>,
}

/// A fact as it stands, for the caller alone until dropped (drop it before
/// asking for the same fact again).
pub struct FactMut<'a, T> {
    pub(super) guard: RwLockWriteGuard<'a, Box<dyn Fact>>,
    pub(super) of: PhantomData<T>,
}

pub(super) fn downcast<T: Fact>(fact: &dyn Fact) -> &T {
    let any: &dyn Any = fact;
    match any.downcast_ref::<T>() {
        Some(t) => t,
        None => unreachable!("facts are found by their type"),
    }
}

impl<T: Fact> std::ops::Deref for FactRef<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        downcast(&**self.guard)
    }
}

impl<T: Fact> std::ops::Deref for FactMut<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        downcast(&**self.guard)
    }
}

impl<T: Fact> std::ops::DerefMut for FactMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        let any: &mut dyn Any = &mut **self.guard;
        match any.downcast_mut::<T>() {
            Some(t) => t,
            None => unreachable!("facts are found by their type"),
        }
    }
}

/// For each key, the first statement having it: what "was X created earlier
/// in the file" asks.
#[derive(Debug)]
pub struct FirstByKey<K = String>(HashMap<K, usize>);

impl<K> Default for FirstByKey<K> {
    fn default() -> Self {
        FirstByKey(HashMap::new())
    }
}

impl<K: Eq + Hash> FirstByKey<K> {
    /// Records that `stmt` has the key.
    pub fn insert(&mut self, key: K, stmt: &Stmt) {
        self.0.entry(key).or_insert(stmt.index);
    }

    /// Whether a statement before `stmt` has the key.
    pub fn before<Q: Eq + Hash + ?Sized>(&self, key: &Q, stmt: &Stmt) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.get(key).is_some_and(|&i| i < stmt.index)
    }
}

/// The statements having each key, in file order: what a rule looks back at
/// for one name, found without looking at the others.
#[derive(Debug)]
pub struct ByKey<K = String>(HashMap<K, Vec<usize>>);

impl<K> Default for ByKey<K> {
    fn default() -> Self {
        ByKey(HashMap::new())
    }
}

impl<K: Eq + Hash> ByKey<K> {
    /// Records that `stmt` has the key.
    pub fn insert(&mut self, key: K, stmt: &Stmt) {
        let v = self.0.entry(key).or_default();
        // One entry per statement, however often it has the key.
        if v.last() != Some(&stmt.index) {
            v.push(stmt.index);
        }
    }

    /// The statements before `stmt` having the key (their indexes), in file
    /// order.
    pub fn before<Q: Eq + Hash + ?Sized>(&self, key: &Q, stmt: &Stmt) -> &[usize]
    where
        K: Borrow<Q>,
    {
        let all = self.0.get(key).map_or(&[][..], Vec::as_slice);
        &all[..all.partition_point(|&i| i < stmt.index)]
    }
}

/// A setting as the file changes it: each statement that sets it, with the
/// value, in file order.
#[derive(Debug)]
pub struct Settings<V>(Vec<(usize, V)>);

impl<V> Default for Settings<V> {
    fn default() -> Self {
        Settings(Vec::new())
    }
}

impl<V> Settings<V> {
    /// Records that `stmt` sets the setting to `value`.
    pub fn set(&mut self, value: V, stmt: &Stmt) {
        self.0.push((stmt.index, value));
    }

    /// What the last statement before `stmt` that sets it set it to.
    pub fn before(&self, stmt: &Stmt) -> Option<&V> {
        let n = self.0.partition_point(|&(i, _)| i < stmt.index);
        n.checked_sub(1).map(|last| &self.0[last].1)
    }
}
