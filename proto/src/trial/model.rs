//! Which network a trial trains ([`Model`]) and the named blocks of it that a
//! phase can unfreeze ([`Stage`]): ResNet18's `stem`, `layer1`..`layer4`;
//! MobileNetV2's `features.0`..`features.18` (torchvision's module names);
//! `all` for every block of either.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The architecture of a trial's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// torchvision's `resnet18` (head `fc`, 512 features).
    #[default]
    Resnet18,
    /// torchvision's `mobilenet_v2` (head `classifier.1`, 1280 features).
    MobilenetV2,
}

/// MobileNetV2's `features.N` blocks: N in `0..MOBILENET_BLOCKS`.
pub const MOBILENET_BLOCKS: u8 = 19;

const RESNET_STAGES: [Stage; 5] = [
    Stage::Stem,
    Stage::Layer1,
    Stage::Layer2,
    Stage::Layer3,
    Stage::Layer4,
];

const MOBILENET_STAGES: [Stage; MOBILENET_BLOCKS as usize] = {
    let mut out = [Stage::Features(0); MOBILENET_BLOCKS as usize];
    let mut i = 0;
    while i < MOBILENET_BLOCKS {
        out[i as usize] = Stage::Features(i);
        i += 1;
    }
    out
};

const FEATURE_NAMES: [&str; MOBILENET_BLOCKS as usize] = [
    "features.0",
    "features.1",
    "features.2",
    "features.3",
    "features.4",
    "features.5",
    "features.6",
    "features.7",
    "features.8",
    "features.9",
    "features.10",
    "features.11",
    "features.12",
    "features.13",
    "features.14",
    "features.15",
    "features.16",
    "features.17",
    "features.18",
];

impl Model {
    pub fn is_resnet18(&self) -> bool {
        *self == Model::Resnet18
    }

    /// The name a config uses.
    pub fn name(self) -> &'static str {
        match self {
            Model::Resnet18 => "resnet18",
            Model::MobilenetV2 => "mobilenet_v2",
        }
    }

    /// The backbone's blocks in forward order (what `all` means).
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Model::Resnet18 => &RESNET_STAGES,
            Model::MobilenetV2 => &MOBILENET_STAGES,
        }
    }

    /// Whether `stage` names a block of this model (`all` fits every model).
    pub fn has(self, stage: Stage) -> bool {
        stage == Stage::All || self.stages().contains(&stage)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backbone block that is frozen or unfrozen as a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// ResNet18's conv1 + bn1.
    Stem,
    Layer1,
    Layer2,
    Layer3,
    Layer4,
    /// MobileNetV2's `features.N`.
    Features(u8),
    /// Shorthand for every backbone block.
    All,
}

impl Stage {
    /// torchvision's module name (`all` for [`Stage::All`]).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Stem => "stem",
            Stage::Layer1 => "layer1",
            Stage::Layer2 => "layer2",
            Stage::Layer3 => "layer3",
            Stage::Layer4 => "layer4",
            Stage::Features(n) => FEATURE_NAMES
                .get(n as usize)
                .copied()
                .unwrap_or("features.?"),
            Stage::All => "all",
        }
    }

    /// The stage a config names, if any.
    pub fn parse(name: &str) -> Option<Stage> {
        let fixed = [
            Stage::Stem,
            Stage::Layer1,
            Stage::Layer2,
            Stage::Layer3,
            Stage::Layer4,
            Stage::All,
        ];
        fixed
            .into_iter()
            .chain(MOBILENET_STAGES)
            .find(|s| s.name() == name)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Stage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl de::Visitor<'_> for Name {
            type Value = Stage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a backbone block name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Stage, E> {
                Stage::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "unknown stage `{v}`: expected stem, layer1..layer4 (resnet18), \
                         features.0..features.18 (mobilenet_v2) or all"
                    ))
                })
            }
        }
        d.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_name_parses_back() {
        for m in [Model::Resnet18, Model::MobilenetV2] {
            for &s in m.stages() {
                assert_eq!(Stage::parse(s.name()), Some(s));
                assert!(m.has(s));
            }
        }
        assert_eq!(Stage::parse("all"), Some(Stage::All));
        assert_eq!(Stage::parse("features.19"), None);
        assert_eq!(Stage::parse("features.01"), None);
        assert!(!Model::Resnet18.has(Stage::Features(3)));
        assert!(!Model::MobilenetV2.has(Stage::Layer4));
        assert_eq!(Model::MobilenetV2.stages().len(), 19);
    }
}
