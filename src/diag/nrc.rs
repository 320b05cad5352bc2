//! Negative response codes: the byte after `7F <sid>` in UDS and KWP2000.
//!
//! Names are the camelCase names of ISO 14229-1:2020 (Table A.1; 0x38-0x4F
//! stay the range ISO 14229-1 reserves for ISO 15764); 0x80 is the
//! KWP2000 code (ISO 14230-3) that the Nissan BCM sends for reads outside
//! session C0. Anything else keeps its byte in [`Nrc::Other`], so decoding
//! never loses information.

use std::fmt;

macro_rules! nrc_table {
    ($( $variant:ident = $code:literal, $name:literal, $words:literal; )*) => {
        /// A negative response code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Nrc {
            $( #[doc = $words] $variant, )*
            /// A code without a name here (reserved or manufacturer-specific).
            Other(u8),
        }

        impl Nrc {
            /// The code byte.
            pub fn code(self) -> u8 {
                match self {
                    $( Nrc::$variant => $code, )*
                    Nrc::Other(c) => c,
                }
            }

            /// The ISO camelCase name, or "unknownNrc" for [`Nrc::Other`].
            pub fn name(self) -> &'static str {
                match self {
                    $( Nrc::$variant => $name, )*
                    Nrc::Other(c) => other_name(c),
                }
            }

            /// What the code means, in plain words for a mechanic.
            pub fn description(self) -> &'static str {
                match self {
                    $( Nrc::$variant => $words, )*
                    Nrc::Other(c) => other_words(c),
                }
            }
        }

        impl From<u8> for Nrc {
            fn from(code: u8) -> Nrc {
                match code {
                    $( $code => Nrc::$variant, )*
                    c => Nrc::Other(c),
                }
            }
        }
    };
}

nrc_table! {
    GeneralReject = 0x10, "generalReject", "the module rejected the request without saying why";
    ServiceNotSupported = 0x11, "serviceNotSupported", "the module does not know this service";
    SubFunctionNotSupported = 0x12, "subFunctionNotSupported", "the module does not know this sub-function";
    IncorrectMessageLength = 0x13, "incorrectMessageLengthOrInvalidFormat", "the request had the wrong length or format";
    ResponseTooLong = 0x14, "responseTooLong", "the answer would be longer than the transport can carry";
    BusyRepeatRequest = 0x21, "busyRepeatRequest", "the module is busy: ask again shortly";
    ConditionsNotCorrect = 0x22, "conditionsNotCorrect", "the module refuses in the present vehicle conditions";
    RequestSequenceError = 0x24, "requestSequenceError", "requests came in the wrong order";
    NoResponseFromSubnetComponent = 0x25, "noResponseFromSubnetComponent", "a module behind this one did not answer";
    FailurePreventsExecution = 0x26, "failurePreventsExecutionOfRequestedAction", "a stored fault prevents the requested action";
    RequestOutOfRange = 0x31, "requestOutOfRange", "the module does not support this identifier or value";
    SecurityAccessDenied = 0x33, "securityAccessDenied", "the request needs a security unlock";
    AuthenticationRequired = 0x34, "authenticationRequired", "the request needs authentication";
    InvalidKey = 0x35, "invalidKey", "the security key was wrong";
    ExceededNumberOfAttempts = 0x36, "exceedNumberOfAttempts", "too many wrong security keys";
    RequiredTimeDelayNotExpired = 0x37, "requiredTimeDelayNotExpired", "the security lockout delay is still running";
    CertificateVerificationFailedInvalidTimePeriod = 0x50, "certificateVerificationFailedInvalidTimePeriod", "authentication (ISO 14229-1:2020): certificate outside its validity period";
    CertificateVerificationFailedInvalidSignature = 0x51, "certificateVerificationFailedInvalidSignature", "authentication (ISO 14229-1:2020): certificate signature invalid";
    CertificateVerificationFailedInvalidChainOfTrust = 0x52, "certificateVerificationFailedInvalidChainOfTrust", "authentication (ISO 14229-1:2020): certificate chain of trust invalid";
    CertificateVerificationFailedInvalidType = 0x53, "certificateVerificationFailedInvalidType", "authentication (ISO 14229-1:2020): certificate type invalid";
    CertificateVerificationFailedInvalidFormat = 0x54, "certificateVerificationFailedInvalidFormat", "authentication (ISO 14229-1:2020): certificate format invalid";
    CertificateVerificationFailedInvalidContent = 0x55, "certificateVerificationFailedInvalidContent", "authentication (ISO 14229-1:2020): certificate content invalid";
    CertificateVerificationFailedInvalidScope = 0x56, "certificateVerificationFailedInvalidScope", "authentication (ISO 14229-1:2020): certificate scope invalid";
    CertificateVerificationFailedInvalidCertificate = 0x57, "certificateVerificationFailedInvalidCertificate", "authentication (ISO 14229-1:2020): certificate invalid or revoked";
    OwnershipVerificationFailed = 0x58, "ownershipVerificationFailed", "authentication (ISO 14229-1:2020): proof of ownership failed";
    ChallengeCalculationFailed = 0x59, "challengeCalculationFailed", "authentication (ISO 14229-1:2020): authentication challenge could not be computed";
    SettingAccessRightsFailed = 0x5A, "settingAccessRightsFailed", "authentication (ISO 14229-1:2020): access rights could not be set";
    SessionKeyCreationDerivationFailed = 0x5B, "sessionKeyCreationDerivationFailed", "authentication (ISO 14229-1:2020): session key could not be created";
    ConfigurationDataUsageFailed = 0x5C, "configurationDataUsageFailed", "authentication (ISO 14229-1:2020): authentication configuration data could not be used";
    DeAuthenticationFailed = 0x5D, "deAuthenticationFailed", "authentication (ISO 14229-1:2020): de-authentication failed";
    UploadDownloadNotAccepted = 0x70, "uploadDownloadNotAccepted", "the module refused the transfer";
    TransferDataSuspended = 0x71, "transferDataSuspended", "the transfer was stopped";
    GeneralProgrammingFailure = 0x72, "generalProgrammingFailure", "writing the module's memory failed";
    WrongBlockSequenceCounter = 0x73, "wrongBlockSequenceCounter", "a transfer block came out of sequence";
    ResponsePending = 0x78, "requestCorrectlyReceivedResponsePending", "request received, the answer will take longer";
    SubFunctionNotSupportedInActiveSession = 0x7E, "subFunctionNotSupportedInActiveSession", "this sub-function is not allowed in the present session";
    ServiceNotSupportedInActiveSession = 0x7F, "serviceNotSupportedInActiveSession", "this service is not allowed in the present session";
    ServiceNotSupportedInActiveDiagnosticSession = 0x80, "serviceNotSupportedInActiveDiagnosticSession", "not allowed in the present session (KWP2000; Nissan: start session C0 first)";
    RpmTooHigh = 0x81, "rpmTooHigh", "engine speed too high";
    RpmTooLow = 0x82, "rpmTooLow", "engine speed too low";
    EngineIsRunning = 0x83, "engineIsRunning", "the engine must be off";
    EngineIsNotRunning = 0x84, "engineIsNotRunning", "the engine must be running";
    EngineRunTimeTooLow = 0x85, "engineRunTimeTooLow", "the engine has not run long enough";
    TemperatureTooHigh = 0x86, "temperatureTooHigh", "temperature too high";
    TemperatureTooLow = 0x87, "temperatureTooLow", "temperature too low";
    VehicleSpeedTooHigh = 0x88, "vehicleSpeedTooHigh", "the vehicle is moving too fast";
    VehicleSpeedTooLow = 0x89, "vehicleSpeedTooLow", "the vehicle is moving too slowly";
    ThrottlePedalTooHigh = 0x8A, "throttlePedalTooHigh", "throttle or pedal pressed too far";
    ThrottlePedalTooLow = 0x8B, "throttlePedalTooLow", "throttle or pedal not pressed far enough";
    TransmissionRangeNotInNeutral = 0x8C, "transmissionRangeNotInNeutral", "the transmission must be in neutral";
    TransmissionRangeNotInGear = 0x8D, "transmissionRangeNotInGear", "the transmission must be in gear";
    BrakeSwitchNotClosed = 0x8F, "brakeSwitchNotClosed", "the brake pedal must be pressed";
    ShifterLeverNotInPark = 0x90, "shifterLeverNotInPark", "the shifter must be in park";
    TorqueConverterClutchLocked = 0x91, "torqueConverterClutchLocked", "the torque converter clutch is locked";
    VoltageTooHigh = 0x92, "voltageTooHigh", "supply voltage too high";
    VoltageTooLow = 0x93, "voltageTooLow", "supply voltage too low: check the battery";
    ResourceTemporarilyNotAvailable = 0x94, "resourceTemporarilyNotAvailable", "the module is temporarily unable to do this";
}

fn other_name(code: u8) -> &'static str {
    match code {
        0x38..=0x4F => "reservedByExtendedDataLinkSecurity",
        0xF0..=0xFE => "vehicleManufacturerSpecificConditionsNotCorrect",
        _ => "isoSaeReserved",
    }
}

fn other_words(code: u8) -> &'static str {
    match code {
        0xF0..=0xFE => "a manufacturer-specific condition is not met",
        _ => "a code this tool has no name for",
    }
}

impl fmt::Display for Nrc {
    /// `0x22 conditionsNotCorrect`, the form used in messages and reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} {}", self.code(), self.name())
    }
}

impl serde::Serialize for Nrc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_through_the_enum() {
        for code in 0..=u8::MAX {
            assert_eq!(Nrc::from(code).code(), code, "code 0x{code:02X}");
        }
    }

    #[test]
    fn named_codes_are_not_other() {
        // `Other` must only hold codes without a variant, or equality breaks.
        for code in 0..=u8::MAX {
            let nrc = Nrc::from(code);
            if let Nrc::Other(c) = nrc {
                assert!(!matches!(
                    c,
                    0x10..=0x14 | 0x21 | 0x22 | 0x31 | 0x78 | 0x80 | 0x93
                ));
            }
        }
    }

    #[test]
    fn names_follow_iso_14229() {
        let cases = [
            (0x10, "generalReject"),
            (0x11, "serviceNotSupported"),
            (0x12, "subFunctionNotSupported"),
            (0x13, "incorrectMessageLengthOrInvalidFormat"),
            (0x21, "busyRepeatRequest"),
            (0x22, "conditionsNotCorrect"),
            (0x31, "requestOutOfRange"),
            (0x33, "securityAccessDenied"),
            (0x78, "requestCorrectlyReceivedResponsePending"),
            (0x7F, "serviceNotSupportedInActiveSession"),
            (0x80, "serviceNotSupportedInActiveDiagnosticSession"),
            (0x93, "voltageTooLow"),
            (0x42, "reservedByExtendedDataLinkSecurity"),
            (0xF3, "vehicleManufacturerSpecificConditionsNotCorrect"),
            (0x8E, "isoSaeReserved"),
        ];
        for (code, name) in cases {
            assert_eq!(Nrc::from(code).name(), name, "0x{code:02X}");
        }
        assert_eq!(
            Nrc::ConditionsNotCorrect.to_string(),
            "0x22 conditionsNotCorrect"
        );
        assert_eq!(Nrc::from(0x8E), Nrc::Other(0x8E));
    }
}
