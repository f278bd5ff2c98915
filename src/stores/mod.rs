//! Upload targets with their own protocols, one file each: Alibaba OTA (GenerateOTAUploadURL
//! and OSS PostObject), Huawei AppGallery Connect (token, upload URL, OBS PUT). UCloud device
//! files belong to the device (`device.rs`, `clouds/ucloud.rs`); presigned PUT and POST
//! forms to `transfer/upload.rs`.

#[cfg(feature = "agc")]
pub(crate) mod agc;
#[cfg(feature = "aliyun-ota")]
pub(crate) mod aliyun_ota;
