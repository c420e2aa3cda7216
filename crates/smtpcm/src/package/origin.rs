//! Where each editable value of a loaded object came from in its file.
//!
//! These are plain data owned by the model: the loader (`dtsx`) fills them while loading and
//! turns changed values back into byte splices when saving. Keeping them here, rather than in
//! the loader, means the model never depends on the loader.

use std::ops::Range;

/// The place in the source bytes a value was read from (or would be written to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The bytes between the quotes of an attribute value.
    Attr(Range<usize>),
    /// The content of an element that holds only text (possibly empty: `<a></a>`).
    Text(Range<usize>),
    /// A self-closing element (`<a/>` or `<a />`) whose content is empty; writing a value turns
    /// `range` (the `/>` or ` />`) into `>value</qname>`.
    SelfClosing { close: Range<usize>, qname: String },
    /// The attribute is not written (SSIS 2012+ omits defaults); it can be inserted after the
    /// last attribute of its element.
    MissingAttr {
        insert_at: usize,
        separator: String,
        qname: String,
    },
    /// Nothing in the file can hold this value (e.g. a format-3 property element that is absent).
    Absent,
}

/// One value as loaded, with the slot it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tracked {
    pub slot: Slot,
    pub original: String,
}

/// The slots of one loaded object, keyed by the model field they feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    fields: Vec<(&'static str, Tracked)>,
    /// Byte range of the whole element, for inserting siblings or reporting positions.
    pub element: Range<usize>,
    /// Slots of a repeated child value (Send Mail attachments), in file order.
    pub items: Vec<Tracked>,
    /// How many children of an editable list (property expressions, connections) were loaded,
    /// so that a removal is noticed at save time instead of silently not written.
    pub list_len: usize,
}

impl Origin {
    pub fn new(element: Range<usize>) -> Self {
        Origin {
            fields: Vec::new(),
            element,
            items: Vec::new(),
            list_len: 0,
        }
    }

    pub fn track(&mut self, field: &'static str, slot: Slot, original: &str) {
        self.fields.push((
            field,
            Tracked {
                slot,
                original: original.to_owned(),
            },
        ));
    }

    pub fn get(&self, field: &str) -> Option<&Tracked> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, t)| t)
    }
}
