// The flags linkd puts on records and answers, one definition each. They are
// strings on the wire (`repeated string flags`), so callers can match on
// them without a proto enum; the constants keep the spellings in one place.
#pragma once

namespace linkage::flag {

// --- Normalization: set on a record while it is read (domain layer). ---

// The national ID's province digits name no province.
inline constexpr char kCccdUnknownProvince[] = "CCCD_UNKNOWN_PROVINCE";
// The CCCD's sex/century digit disagrees with the record's sex.
inline constexpr char kCccdSexMismatch[] = "CCCD_SEX_MISMATCH";
// The CCCD's two year digits disagree with the birth year.
inline constexpr char kCccdYearMismatch[] = "CCCD_YEAR_MISMATCH";
// A 9-digit CMND was written in the national_id field.
inline constexpr char kCmndInNationalId[] = "CMND_IN_NATIONAL_ID";
// national_id / old_id could not be read as an ID; kept, never indexed.
inline constexpr char kNationalIdMalformed[] = "NATIONAL_ID_MALFORMED";
inline constexpr char kOldIdMalformed[] = "OLD_ID_MALFORMED";
// Birth date: day past the month's end; day and month read swapped; a
// placeholder such as 01/01; only part of the date could be read.
inline constexpr char kDateImpossibleDay[] = "DATE_IMPOSSIBLE_DAY";
inline constexpr char kDateSwapped[] = "DATE_SWAPPED";
inline constexpr char kDatePlaceholder[] = "DATE_PLACEHOLDER";
inline constexpr char kDatePartlyRead[] = "DATE_PARTLY_READ";
// A month above 12 that is no swapped day ("23/42/1988"): only the year kept.
inline constexpr char kDateImpossibleMonth[] = "DATE_IMPOSSIBLE_MONTH";
// A four-digit year outside 1880..2100 ("26/11/1879" for 1979), kept as
// written: compared by its digits (one digit off is the one-digit level).
inline constexpr char kDateYearImplausible[] = "DATE_YEAR_IMPLAUSIBLE";
// A name repaired from a legacy encoding; the encoding's name follows.
inline constexpr char kNameLegacyPrefix[] = "NAME_LEGACY_";
// Address: no unit recognised; the 2025 or pre-2025 scheme was guessed; a
// commune code not in the tables; more than one unit fits.
inline constexpr char kAddressUnresolved[] = "ADDRESS_UNRESOLVED";
inline constexpr char kUnitVersionGuessed[] = "UNIT_VERSION_GUESSED";
inline constexpr char kUnknownCommuneCode[] = "UNKNOWN_COMMUNE_CODE";
inline constexpr char kAddressAmbiguous[] = "ADDRESS_AMBIGUOUS";

// --- Answers: set by Match and Verify (engine layer). ---

// The record could not be read at all (bulk jobs report it in place).
inline constexpr char kInvalidRecord[] = "INVALID_RECORD";
// The two best candidates are too close to tell apart.
inline constexpr char kAmbiguous[] = "AMBIGUOUS";
// The best candidate's name differs from the query's (at the model's
// "different" or "typo" level) and nothing settles who it is: at most REVIEW.
inline constexpr char kNameDiffers[] = "NAME_DIFFERS";
// The best candidate's name differs from the query's only by what typing
// does, the claimed ID is that candidate's and the name fits nobody else:
// the ID and the other fields establish the person, so no cap.
inline constexpr char kNameTypo[] = "NAME_TYPO";
// The claimed ID belongs to someone other than the person found.
inline constexpr char kIdConflict[] = "ID_CONFLICT";
// The record's own ID disagrees with its sex or birth year.
inline constexpr char kIdInconsistent[] = "ID_INCONSISTENT";
// Verify: the ID's holder fits the claimed name, but the claimed date of
// birth (at the "different" level) or sex is not the holder's.
inline constexpr char kHolderDateDiffers[] = "HOLDER_DATE_DIFFERS";
inline constexpr char kHolderSexDiffers[] = "HOLDER_SEX_DIFFERS";
// The claimed ID is one typing error away from the person's ID.
inline constexpr char kIdTypo[] = "ID_TYPO";
// No register person holds the claimed ID.
inline constexpr char kIdNotInRegister[] = "ID_NOT_IN_REGISTER";
// A blocking key was skipped because its block is larger than the cap.
inline constexpr char kBlockOversized[] = "BLOCK_OVERSIZED";
// More candidates were retrieved than are scored; the rest were dropped.
inline constexpr char kCandidatesCapped[] = "CANDIDATES_CAPPED";

// --- Conflict reports (FindConflicts kinds). ---

inline constexpr char kIdHeldByOther[] = "ID_HELD_BY_OTHER";
inline constexpr char kIdClaimedTwice[] = "ID_CLAIMED_TWICE";
inline constexpr char kMatchedTwice[] = "MATCHED_TWICE";

}  // namespace linkage::flag
